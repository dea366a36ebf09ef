import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry-client';
import { type RunningRuntime, startRuntime } from '@plugline/runtime';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishWorkspacePackages } from './npm-packages.js';
import { assertBuilt, childEnv, makeTempDir, repoRoot, runCli, runProcess } from './test-support/fixtures.js';

// A plugin author's first hour, as the README tells it, with no --link: the registry serves the SDK and
// the CLI over the npm protocol (what the quickstart publishes), `plugline init` points the project's
// .npmrc at it, and from there on everything is plain npm and the project's own `plugline` binary.
const adminToken = 'first-hour-admin';
let root: string;
let registry: RunningRegistry;
let runtime: RunningRuntime | undefined;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('first-hour');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry-data'), adminToken, logger: pino({ level: 'silent' }) });
  const client = new RegistryClient({ url: registry.url, token: adminToken });
  const published = await publishWorkspacePackages(client, { repoRoot, outDir: path.join(root, 'npm-tarballs'), logger: pino({ level: 'silent' }) });
  expect(published.failed).toEqual([]);
  env = childEnv({
    PLUGLINE_CONFIG: path.join(root, 'config.json'),
    PLUGLINE_RUNTIME_DIR: path.join(root, 'runtime'),
    // npm with no user config of this machine, so the project's .npmrc alone decides.
    npm_config_userconfig: path.join(root, 'user.npmrc'),
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  });
  await writeFile(path.join(root, 'user.npmrc'), '');
}, 120_000);
afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('the first hour, without --link', () => {
  it('init, npm install, typecheck, test, dev, pack, publish, install into a running runtime, an event, publish --tag beta, update', async () => {
    expect((await runCli(['login', '--registry', registry.url, '--token', adminToken], { env })).code).toBe(0);
    const created = await runCli(['init', 'first-hour'], { cwd: root, env });
    expect(created.code).toBe(0);
    // The next steps it prints are the ones run below, as printed.
    expect(created.stdout).toContain('next: cd first-hour && npm install && npm test && npm run build');
    const dir = path.join(root, 'first-hour');
    expect(await readFile(path.join(dir, '.npmrc'), 'utf8')).toContain(`@plugline:registry=${registry.url}/npm/`);

    const installed = await runProcess('npm', ['install'], { cwd: dir, env });
    expect(installed.stderr).not.toMatch(/EBADENGINE|ERR!/);
    expect(installed.code).toBe(0);
    // Authoring tools bring neither the runtime's native sandbox nor the GeoIP data nor the registry server.
    const tree = JSON.parse((await runProcess('npm', ['ls', '--all', '--json'], { cwd: dir, env })).stdout) as DependencyTree;
    const names = allNames(tree);
    expect(names).toContain('@plugline/cli');
    expect(names).toContain('@plugline/sdk');
    for (const heavy of ['isolated-vm', 'geoip-lite', '@plugline/runtime', '@plugline/registry', 'express', 'mongodb']) {
      expect(names).not.toContain(heavy);
      expect(existsSync(path.join(dir, 'node_modules', ...heavy.split('/')))).toBe(false);
    }

    const typechecked = await runProcess('npm', ['run', 'typecheck', '--silent'], { cwd: dir, env });
    expect(typechecked.stdout + typechecked.stderr).toBe('');
    expect(typechecked.code).toBe(0);
    const tested = await runProcess('npm', ['test', '--silent'], { cwd: dir, env });
    expect(tested.stdout + tested.stderr).toMatch(/3 passed/);
    expect(tested.code).toBe(0);
    const dev = await runProcess('npm', ['run', 'dev', '--silent'], { cwd: dir, env });
    expect(dev.code).toBe(0);
    expect(dev.stdout).toMatch(/"greeting":"hello"/);
    const built = await runProcess('npm', ['run', 'build', '--silent'], { cwd: dir, env });
    expect(built.code).toBe(0);
    const packedIntegrity = /integrity: (sha512-\S+)/.exec(built.stdout)?.[1];
    expect(packedIntegrity).toMatch(/^sha512-/);

    // The project's own plugline (installed from the registry), not the monorepo's.
    const published = await runProcess('npx', ['plugline', 'publish', '--json'], { cwd: dir, env });
    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ name: 'first-hour', version: '0.1.0', integrity: packedIntegrity, tag: 'latest' });
    // The config schema is in the published manifest although the project's plugin.json has none.
    const client = new RegistryClient({ url: registry.url });
    expect(Object.keys((await client.resolve('first-hour', 'latest')).config.properties ?? {})).toEqual(['property', 'greeting', 'dropEvents']);

    await writeFile(path.join(root, 'config.greeter.json'), JSON.stringify({ greeting: 'hi there', dropEvents: ['bot_ping'] }));
    // Into a running runtime: the CLI finds it from the folder's runtime.json and applies the change live.
    runtime = await startRuntime({ dir: path.join(root, 'runtime'), port: 0, schedule: false, registryUrl: registry.url, logger: pino({ level: 'silent' }) });
    const added = await runCli(['install', 'first-hour@^0.1.0', '--config', path.join(root, 'config.greeter.json')], { env });
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(`applied to the running runtime at ${runtime.url}`);
    const capture = await fetch(`${runtime.url}/batch`, {
      method: 'POST',
      body: JSON.stringify({ batch: [{ event: 'signed_up', distinct_id: 'u1' }, { event: 'bot_ping', distinct_id: 'bot' }] }),
    });
    expect(capture.status).toBe(200);
    const events = runtime.runtime.queryEvents({});
    expect(events.map((event) => [event.event, event.properties.greeting])).toEqual([['signed_up', 'hi there']]);

    // 0.2.0 under --tag beta: latest does not move.
    for (const file of ['package.json', 'plugin.json']) {
      const json = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as { version: string };
      json.version = '0.2.0';
      await writeFile(path.join(dir, file), JSON.stringify(json, null, 2));
    }
    const beta = await runProcess('npx', ['plugline', 'publish', '--tag', 'beta'], { cwd: dir, env });
    expect(beta.code).toBe(0);
    expect(beta.stdout).toContain('latest stays 0.1.0');
    expect(await client.getDistTags('first-hour')).toEqual({ latest: '0.1.0', beta: '0.2.0' });

    // update: within ^0.1.0 there is nothing newer; --tag beta moves the running runtime to 0.2.0, config kept.
    expect((await runCli(['update'], { env })).stdout).toBe('first-hour: 0.1.0 (up to date with ^0.1.0)\n');
    const outdated = await runCli(['outdated', '--json'], { env });
    expect(JSON.parse(outdated.stdout)).toEqual({});
    const updated = await runCli(['update', 'first-hour', '--tag', 'beta'], { env });
    expect(updated.stdout).toBe(`first-hour: 0.1.0 -> 0.2.0\napplied to the running runtime at ${runtime.url}\n`);
    await fetch(`${runtime.url}/capture`, { method: 'POST', body: JSON.stringify({ event: 'after_update', distinct_id: 'u2' }) });
    expect(runtime.runtime.queryEvents({ event: 'after_update' })[0]?.properties).toMatchObject({ greeting: 'hi there', $plugins_succeeded: ['first-hour (0.2.0)'] });
  }, 600_000);
});

interface DependencyTree {
  version?: string;
  dependencies?: Record<string, DependencyTree>;
}

/** Every installed package of an `npm ls --all --json` tree (optional peers that are not installed have no version). */
function allNames(tree: DependencyTree): string[] {
  return Object.entries(tree.dependencies ?? {}).flatMap(([name, child]) => [...(child.version ? [name] : []), ...allNames(child)]);
}
