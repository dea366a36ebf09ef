import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { type RunningRuntime, startRuntime } from '@plugline/runtime';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, childEnv, makeTempDir, runCli, runProcess } from './test-support/fixtures.js';

const adminToken = 'flow-admin-token';
let root: string;
let registry: RunningRegistry;
let runtime: RunningRuntime | undefined;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('flow');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry-data'), adminToken, logger: pino({ level: 'silent' }) });
  env = childEnv({ PLUGLINE_CONFIG: path.join(root, 'config.json'), PLUGLINE_RUNTIME_DIR: path.join(root, 'runtime') });
});
afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('init -> test -> pack -> publish -> install -> an event through the runtime', () => {
  it('shows the new plugin at work on a captured event', async () => {
    const created = await runCli(['init', 'flow-greeter', '--link', '--json'], { cwd: root, env });
    expect(created.code).toBe(0);
    const { dir } = JSON.parse(created.stdout) as { dir: string };

    // The generated project's own scripts, as its author would run them.
    const tested = await runProcess('npm', ['test', '--silent'], { cwd: dir, env });
    expect(tested.stdout + tested.stderr).toMatch(/3 passed/);
    expect(tested.code).toBe(0);
    const typechecked = await runProcess('npm', ['run', 'typecheck', '--silent'], { cwd: dir, env });
    expect(typechecked.stdout + typechecked.stderr).toBe('');
    expect(typechecked.code).toBe(0);
    const built = await runProcess('npm', ['run', 'build', '--silent'], { cwd: dir, env });
    expect(built.code).toBe(0);
    const packedIntegrity = /integrity: (sha512-\S+)/.exec(built.stdout)?.[1];
    expect(packedIntegrity).toMatch(/^sha512-/);

    expect((await runCli(['login', '--registry', registry.url, '--token', adminToken], { env })).code).toBe(0);
    const published = await runCli(['publish', '--json'], { cwd: dir, env });
    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ name: 'flow-greeter', version: '0.1.0', integrity: packedIntegrity });

    await writeFile(path.join(root, 'greeter-config.json'), JSON.stringify({ property: 'salute', greeting: 'hey', dropEvents: ['bot_ping'] }));
    const installed = await runCli(['install', 'flow-greeter@^0.1.0', '--config', path.join(root, 'greeter-config.json')], { env });
    expect(installed.stderr).toContain(`installing flow-greeter@^0.1.0 from ${registry.url}`);
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain('installed flow-greeter@0.1.0');
    const lock = JSON.parse(await readFile(path.join(root, 'runtime', 'plugins.lock.json'), 'utf8')) as { plugins: Record<string, { integrity: string }> };
    expect(lock.plugins['flow-greeter']?.integrity).toBe(packedIntegrity);

    const badConfig = await runCli(['config', 'flow-greeter', '--set', 'greeting=7'], { env });
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/^error ERR_CONFIG_INVALID: .*greeting.*\n$/);
    const changed = await runCli(['config', 'flow-greeter', '--set', 'greeting=yo'], { env });
    expect(changed.code).toBe(0);
    const listed = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as { name: string; version: string; config: Record<string, unknown> }[];
    expect(listed).toEqual([expect.objectContaining({ name: 'flow-greeter', version: '0.1.0', config: { property: 'salute', greeting: 'yo', dropEvents: ['bot_ping'] } })]);

    runtime = await startRuntime({ dir: path.join(root, 'runtime'), port: 0, logger: pino({ level: 'silent' }) });
    const capture = await fetch(`${runtime.url}/capture`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ batch: [{ event: 'signed_up', distinct_id: 'u1', properties: { plan: 'pro' } }, { event: 'bot_ping', distinct_id: 'bot' }] }),
    });
    expect(capture.status).toBe(200);
    // Reading events is a management call: the runtime generated its admin token into its folder.
    expect((await fetch(`${runtime.url}/api/events`)).status).toBe(401);
    const { events } = (await (await fetch(`${runtime.url}/api/events`, { headers: { authorization: `Bearer ${runtime.adminToken}` } })).json()) as { events: { event: string; properties: Record<string, unknown> }[] };
    expect(events.map((event) => event.event)).toEqual(['signed_up']);
    expect(events[0]?.properties).toMatchObject({ plan: 'pro', salute: 'yo' });
    await runtime.close();
    runtime = undefined;

    expect((await runCli(['uninstall', 'flow-greeter'], { env })).code).toBe(0);
    expect((await runCli(['list'], { env })).stdout).toMatch(/^no plugins in /);
    const notInstalled = await runCli(['uninstall', 'flow-greeter'], { env });
    expect(notInstalled.code).toBe(1);
    expect(notInstalled.stderr).toMatch(/^error ERR_PLUGIN_NOT_INSTALLED: /);
  });

  it('refuses to install a config that does not match the schema, writing nothing', async () => {
    await writeFile(path.join(root, 'wrong.json'), JSON.stringify({ greeting: 42 }));
    const dir = path.join(root, 'other-runtime');
    const ran = await runCli(['install', 'flow-greeter', '--config', path.join(root, 'wrong.json'), '--dir', dir, '--registry', registry.url], { env });
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/error ERR_CONFIG_INVALID: .*greeting/);
    const listed = await runCli(['list', '--dir', dir, '--json'], { env });
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });
});
