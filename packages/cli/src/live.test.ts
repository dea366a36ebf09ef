import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { type RunningRuntime, startRuntime } from '@plugline/runtime';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReproducibleTarball } from './tarball.js';
import { assertBuilt, childEnv, makeTempDir, runCli } from './test-support/fixtures.js';

// install / uninstall / config / update / outdated through the built binary, against a real registry:
// with no runtime running they edit the files and say so; with one running (found from its
// runtime.json, or --runtime) they apply the change to it live and say so.

const adminToken = 'live-admin-token';
let root: string;
let registry: RunningRegistry;
let admin: RegistryClient;
let env: NodeJS.ProcessEnv;
let running: RunningRuntime | undefined;
const dir = () => path.join(root, 'runtime');
const offline = 'edited plugins.json; start or restart the runtime to apply';

const labelSchema = { type: 'object', properties: { label: { type: 'string', default: 'none' } } };
async function publish(name: string, version: string, options: { tag?: string; schema?: unknown; key?: string } = {}) {
  const manifest = { name, version, main: 'index.js', sdk: '^0.1.0', config: options.schema ?? labelSchema };
  const key = options.key ?? 'label';
  const code = `export function processEvent(event, { config }) {\n  event.properties.trail = [...(event.properties.trail || []), '${name}@${version}:' + config.${key}];\n  return event;\n}\n`;
  const tarball = await createReproducibleTarball([
    { path: 'plugin.json', content: JSON.stringify(manifest) },
    { path: 'index.js', content: code },
  ]);
  await admin.publish(tarball, { name, version, ...(options.tag ? { tag: options.tag } : {}) });
}

async function sendEvent(url: string): Promise<string[]> {
  const uuid = crypto.randomUUID();
  expect((await fetch(`${url}/capture`, { method: 'POST', body: JSON.stringify({ uuid, event: 'probe', distinct_id: 'u' }) })).status).toBe(200);
  return running!.runtime.queryEvents({ event: 'probe', limit: 10_000 }).find((event) => event.uuid === uuid)!.properties.trail as string[];
}

const project = async () => JSON.parse(await readFile(path.join(dir(), 'plugins.json'), 'utf8')) as { plugins: { name: string; spec: string; config: Record<string, unknown> }[] };

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('live');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry-data'), adminToken, logger: pino({ level: 'silent' }) });
  admin = new RegistryClient({ url: registry.url, token: adminToken });
  env = childEnv({ PLUGLINE_CONFIG: path.join(root, 'config.json'), PLUGLINE_RUNTIME_DIR: dir() });
  await publish('live-tagger', '1.0.0');
  await publish('live-step', '1.0.0');
});
afterAll(async () => {
  await running?.close();
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('the runtime commands, without and with a running runtime', () => {
  it('edit the files when no runtime runs; install carries the config over on an upgrade; outdated and update', async () => {
    await writeFile(path.join(root, 'tagger.json'), JSON.stringify({ label: 'mine' }));
    const installed = await runCli(['install', 'live-tagger@^1.0.0', '--config', path.join(root, 'tagger.json'), '--registry', registry.url], { env });
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain('installed live-tagger@1.0.0');
    expect(installed.stdout.trim().split('\n').at(-1)).toBe(offline);

    // Newer versions: 1.1.0 (latest, within ^1.0.0) and 2.0.0 under beta.
    await publish('live-tagger', '1.1.0');
    await publish('live-tagger', '2.0.0', { tag: 'beta' });
    const outdated = await runCli(['outdated'], { env });
    expect(outdated.code).toBe(0);
    expect(outdated.stdout).toMatch(/^name\s+current\s+wanted\s+latest\s+spec\n[- ]+\nlive-tagger\s+1\.0\.0\s+1\.1\.0\s+1\.1\.0\s+\^1\.0\.0\n/);
    const json = await runCli(['outdated', '--json'], { env });
    expect(JSON.parse(json.stdout)).toEqual({ 'live-tagger': { spec: '^1.0.0', current: '1.0.0', wanted: '1.1.0', latest: '1.1.0' } });

    const updated = await runCli(['update'], { env });
    expect(updated.code).toBe(0);
    expect(updated.stdout).toBe(`live-tagger: 1.0.0 -> 1.1.0\n${offline}\n`);
    expect((await project()).plugins).toEqual([expect.objectContaining({ name: 'live-tagger', spec: '^1.0.0', config: { label: 'mine' } })]);
    expect((await runCli(['update'], { env })).stdout).toBe('live-tagger: 1.1.0 (up to date with ^1.0.0)\n');
    expect((await runCli(['outdated'], { env })).stdout).toBe(`all 1 plugin(s) up to date in ${dir()}\n`);

    // An upgrade by install without --config keeps the stored config (it used to fail).
    const upgraded = await runCli(['install', 'live-tagger@beta'], { env });
    expect(upgraded.code).toBe(0);
    expect(upgraded.stdout).toContain('installed live-tagger@2.0.0 (was 1.1.0)');
    expect(upgraded.stdout).toContain('config: {"label":"mine"}');
    const back = await runCli(['install', 'live-tagger@^1.0.0'], { env });
    expect(back.stdout).toContain('installed live-tagger@1.1.0 (was 2.0.0)');
    expect((await project()).plugins[0]).toMatchObject({ spec: '^1.0.0', config: { label: 'mine' } });
  });

  it('apply to the running runtime (found from runtime.json) and say so: install, config, update, outdated, uninstall', async () => {
    running = await startRuntime({ dir: dir(), port: 0, schedule: false, logger: pino({ level: 'silent' }) });
    const live = `applied to the running runtime at ${running.url}`;
    expect(await sendEvent(running.url)).toEqual(['live-tagger@1.1.0:mine']);

    const added = await runCli(['install', 'live-step'], { env });
    expect(added.code).toBe(0);
    expect(added.stderr).toContain(`installing live-step@latest into the running runtime at ${running.url}`);
    expect(added.stdout.trim().split('\n').at(-1)).toBe(live);
    expect(await sendEvent(running.url)).toEqual(['live-tagger@1.1.0:mine', 'live-step@1.0.0:none']);

    const configured = await runCli(['config', 'live-tagger', '--set', 'label=changed'], { env });
    expect(configured.code).toBe(0);
    expect(configured.stdout).toBe(`live-tagger config: {"label":"changed"}\n${live}\n`);
    expect(await sendEvent(running.url)).toEqual(['live-tagger@1.1.0:changed', 'live-step@1.0.0:none']);
    const shown = await runCli(['config', 'live-tagger'], { env });
    expect(JSON.parse(shown.stdout)).toEqual({ label: 'changed' });
    expect(shown.stderr).toContain(`in the running runtime at ${running.url}`);

    const outdated = await runCli(['outdated', '--all'], { env });
    expect(outdated.stdout).toMatch(/live-tagger\s+1\.1\.0\s+1\.1\.0\s+1\.1\.0\s+\^1\.0\.0/);
    expect(outdated.stdout).toContain(`(the running runtime at ${running.url};`);

    const beta = await runCli(['update', 'live-tagger', '--tag', 'beta'], { env });
    expect(beta.code).toBe(0);
    expect(beta.stdout).toBe(`live-tagger: 1.1.0 -> 2.0.0\n${live}\n`);
    expect(await sendEvent(running.url)).toEqual(['live-tagger@2.0.0:changed', 'live-step@1.0.0:none']);

    // 3.0.0 renamed the key: the carried-over config does not validate, 2.0.0 keeps running.
    await publish('live-tagger', '3.0.0', { tag: 'next', schema: { type: 'object', properties: { prefix: { type: 'string' } }, required: ['prefix'] }, key: 'prefix' });
    const refused = await runCli(['update', 'live-tagger', '--tag', 'next'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error ERR_CONFIG_INVALID: live-tagger@3\.0\.0: .*prefix.*live-tagger@2\.0\.0 keeps running/m);
    expect(await sendEvent(running.url)).toEqual(['live-tagger@2.0.0:changed', 'live-step@1.0.0:none']);
    // Updating every plugin: one that cannot move does not stop the others; the command fails naming it.
    await admin.setDistTag('live-tagger', 'beta', '3.0.0');
    const all = await runCli(['update'], { env });
    expect(all.code).toBe(1);
    expect(all.stdout).toBe('live-step: 1.0.0 (up to date with latest)\nlive-tagger: not updated (ERR_CONFIG_INVALID)\n');
    expect(all.stderr).toMatch(/^error ERR_CONFIG_INVALID: 1 plugin\(s\) not updated; live-tagger: live-tagger@3\.0\.0: /m);
    await admin.setDistTag('live-tagger', 'beta', '2.0.0');
    expect(await sendEvent(running.url)).toEqual(['live-tagger@2.0.0:changed', 'live-step@1.0.0:none']);

    const removed = await runCli(['uninstall', 'live-step'], { env });
    expect(removed.stdout).toBe(`uninstalled live-step from ${dir()}\n${live}\n`);
    expect(await sendEvent(running.url)).toEqual(['live-tagger@2.0.0:changed']);
    // The files followed every change.
    expect((await project()).plugins).toEqual([expect.objectContaining({ name: 'live-tagger', spec: 'beta', config: { label: 'changed' } })]);

    await running.close();
    running = undefined;
    expect(existsSync(path.join(dir(), 'runtime.json'))).toBe(false);
    const after = await runCli(['config', 'live-tagger', '--set', 'label=offline'], { env });
    expect(after.stdout).toBe(`live-tagger config: {"label":"offline"}\n${offline}\n`);
  });

  it('treat a stale runtime.json (dead pid, or nothing listening) as not running; --runtime that does not answer is an error', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await writeFile(path.join(dir(), 'runtime.json'), JSON.stringify({ url: 'http://127.0.0.1:9', pid: dead, startedAt: new Date().toISOString() }));
    expect((await runCli(['config', 'live-tagger', '--set', 'label=a'], { env })).stdout).toContain(offline);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await writeFile(path.join(dir(), 'runtime.json'), JSON.stringify({ url, pid: process.pid, startedAt: new Date().toISOString() }));
    expect((await runCli(['config', 'live-tagger', '--set', 'label=b'], { env })).stdout).toContain(offline);
    const unreachable = await runCli(['uninstall', 'live-tagger', '--runtime', url], { env });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`^error ERR_RUNTIME_UNREACHABLE: The runtime at ${url} could not be reached`));
    await rm(path.join(dir(), 'runtime.json'));
  });

  it('send the runtime token as a Bearer header: --token, $PLUGLINE_RUNTIME_ADMIN_TOKEN, else <dir>/admin-token', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'ERR_UNAUTHORIZED', message: 'A valid token is required' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const refused = await runCli(['uninstall', 'x', '--runtime', url, '--token', 'from-flag'], { env });
      expect(refused.stderr).toBe('error ERR_UNAUTHORIZED: A valid token is required\n');
      await runCli(['uninstall', 'x', '--runtime', url], { env: { ...env, PLUGLINE_RUNTIME_ADMIN_TOKEN: 'from-env' } });
      await writeFile(path.join(dir(), 'admin-token'), 'from-file\n');
      await runCli(['uninstall', 'x', '--runtime', url], { env });
      await rm(path.join(dir(), 'admin-token'));
      await runCli(['uninstall', 'x', '--runtime', url], { env });
      expect(seen).toEqual(['Bearer from-flag', 'Bearer from-env', 'Bearer from-file', undefined]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("refuses to create a runtime folder inside a plugin's folder unless --dir says where", async () => {
    const plugin = path.join(root, 'some-plugin');
    await mkdir(plugin, { recursive: true });
    await writeFile(path.join(plugin, 'plugin.json'), '{}');
    const { PLUGLINE_RUNTIME_DIR: _, ...noDir } = env;
    const refused = await runCli(['install', 'live-step', '--registry', registry.url], { cwd: plugin, env: noDir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error ERR_USAGE: .*some-plugin is a plugin's folder \(it has plugin\.json\).*pass --dir/);
    expect(existsSync(path.join(plugin, '.plugline'))).toBe(false);
    const given = await runCli(['install', 'live-step', '--registry', registry.url, '--dir', path.join(root, 'elsewhere')], { cwd: plugin, env: noDir });
    expect(given.code).toBe(0);
    expect(existsSync(path.join(root, 'elsewhere', 'plugins.json'))).toBe(true);
  });
});
