import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin } from './project.js';
import { readRuntimeFile } from './runtime-file.js';
import { startRuntime } from './server.js';
import type { FixturePlugin } from './test/helpers.js';
import { startReceiver, startTestRegistry, waitFor, adminFetch, testAdminToken } from './test/helpers.js';

// The live management API against a real registry and a real runtime on port 0, over HTTP, with
// events flowing while the chain changes.

const trail = (step: string) => `e.properties.trail = [...(e.properties.trail || []), '${step}'];`;
const step = (name: string): FixturePlugin => ({ name, code: `export default { processEvent(e) { ${trail(name)} return e; } };` });
const labelSchema = { type: 'object', properties: { label: { type: 'string', default: 'none' } } } as const;
const tagger = (version: string, schema: FixturePlugin['config'], key: string): FixturePlugin => ({
  name: 'tagger',
  version,
  config: schema,
  code: `export default { processEvent(e, { config }) { ${trail(`tagger@${version}`)} e.properties.tag = config.${key}; return e; } };`,
});
const exporter = (version: string): FixturePlugin => ({
  name: 'mexporter',
  version,
  config: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
  code: `export default { async exportEvents(events, { config }) {
    const response = await fetch(config.url, { method: 'POST', body: JSON.stringify({ version: '${version}', uuids: events.map((e) => e.uuid) }) });
    if (!response.ok) throw new RetryError('receiver answered ' + response.status);
  } };`,
});
const fixtures: FixturePlugin[] = [
  step('step-a'),
  step('step-b'),
  step('step-c'),
  step('step-d'),
  step('step-e'),
  tagger('1.0.0', labelSchema, 'label'),
  tagger('1.1.0', labelSchema, 'label'),
  // 2.0.0 renamed the key: a 1.x config does not validate against it.
  tagger('2.0.0', { type: 'object', properties: { prefix: { type: 'string' } }, required: ['prefix'] }, 'prefix'),
  exporter('1.0.0'),
  exporter('1.1.0'),
  ...['1.0.0', '1.1.0'].map((version) => ({
    name: 'vault',
    version,
    config: { type: 'object', properties: { apiKey: { type: 'string', writeOnly: true, minLength: 8 }, region: { type: 'string' } }, required: ['apiKey'] },
    code: `export default { processEvent(e, { config }) { e.properties.vault = '${version}:' + config.apiKey.length + ':' + config.region; return e; } };`,
  })) as FixturePlugin[],
  { name: 'bad-setup', code: `export default { setupPlugin() { throw new Error('no database today'); }, processEvent(e) { return e; } };` },
  { name: 'wants-net', capabilities: ['net:api.example.com'], code: 'export default { processEvent(e) { return e; } };' },
];

const silent = pino({ level: 'silent' });
let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  registry = await startTestRegistry(fixtures);
});
afterAll(async () => {
  for (const task of cleanup.reverse()) await task().catch(() => undefined);
  await registry.close();
});

async function runtimeWith(plugins: { name: string; spec?: string; config?: Record<string, unknown>; grants?: string[] }[], options: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-manage-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, spec: plugin.spec ?? 'latest', config: plugin.config ?? {}, registryUrl: registry.url, ...(plugin.grants ? { grants: plugin.grants } : {}) });
  const running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: silent, schedule: false, ...options });
  cleanup.push(() => running.close());
  return { dir, ...running };
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await adminFetch(`${url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const files = async (dir: string) => ({
  project: JSON.parse(await readFile(join(dir, 'plugins.json'), 'utf8')) as { plugins: { name: string; spec: string; enabled: boolean; config: Record<string, unknown> }[] },
  lock: JSON.parse(await readFile(join(dir, 'plugins.lock.json'), 'utf8')) as { plugins: Record<string, { version: string }> },
});

const chainOf = async (url: string) => ((await call(url, 'GET', '/api/plugins')).body.plugins as { name: string; version: string; status: string; enabled: boolean; config: Record<string, unknown> }[]);

/** Sends events until stopped, several requests in flight at once; resolves with every uuid it sent (all answered 200). */
function flow(url: string) {
  let stop = false;
  const sent: string[] = [];
  const failures: string[] = [];
  const worker = async () => {
    while (!stop) {
      const batch = Array.from({ length: 5 }, () => ({ uuid: randomUUID(), event: 'flow', distinct_id: 'u' }));
      const response = await fetch(`${url}/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
      if (response.status !== 200) failures.push(`${response.status} ${await response.text()}`);
      else sent.push(...batch.map((event) => event.uuid));
    }
  };
  const workers = Promise.all([worker(), worker(), worker()]);
  return {
    sent,
    async stop() {
      stop = true;
      await workers;
      expect(failures).toEqual([]);
      return sent;
    },
  };
}

/** A probe event sent after a change answered: it must take the new chain. */
async function probe(url: string, runtime: Awaited<ReturnType<typeof runtimeWith>>['runtime']) {
  const uuid = randomUUID();
  const response = await fetch(`${url}/capture`, { method: 'POST', body: JSON.stringify({ uuid, event: 'probe', distinct_id: 'p' }) });
  expect(response.status).toBe(200);
  return runtime.queryEvents({ event: 'probe', limit: 10_000 }).find((event) => event.uuid === uuid)!.properties as { trail?: string[]; tag?: unknown };
}

/** Each sent event stored once, its trail one of the chains the runtime had (no mix, no step twice). */
function checkFlow(runtime: Awaited<ReturnType<typeof runtimeWith>>['runtime'], sent: readonly string[], chains: readonly string[][]) {
  const stored = runtime.queryEvents({ event: 'flow', limit: 10_000 });
  expect(sent.length).toBeGreaterThan(0);
  expect(stored.length).toBe(sent.length);
  expect(new Set(stored.map((event) => event.uuid))).toEqual(new Set(sent));
  const allowed = new Set(chains.map((chain) => JSON.stringify(chain)));
  for (const event of stored) expect(allowed).toContain(JSON.stringify(event.properties.trail ?? []));
}

describe('the live management API', () => {
  it('adds, disables, enables, reorders, moves and removes plugins while events flow: none lost, none twice, effects in the new order', async () => {
    const { url, runtime, dir } = await runtimeWith([{ name: 'step-a' }, { name: 'step-b' }]);
    const chains: string[][] = [['step-a', 'step-b']];
    const events = flow(url);
    await waitFor(() => events.sent.length > 20);
    const expectChain = async (expected: string[]) => {
      chains.push(expected);
      expect((await probe(url, runtime)).trail ?? []).toEqual(expected);
      await waitFor(() => events.sent.length > 20 * chains.length);
    };

    const added = await call(url, 'POST', '/api/plugins', { name: 'step-c', spec: '^1.0.0', position: 0 });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ name: 'step-c', version: '1.0.0', status: 'running', enabled: true, spec: '^1.0.0' });
    await expectChain(['step-c', 'step-a', 'step-b']);

    expect((await call(url, 'POST', '/api/plugins/step-a/disable')).body).toMatchObject({ name: 'step-a', status: 'disabled', enabled: false });
    await expectChain(['step-c', 'step-b']);
    expect((await call(url, 'POST', '/api/plugins/step-a/enable')).body).toMatchObject({ name: 'step-a', status: 'running', enabled: true });
    await expectChain(['step-c', 'step-a', 'step-b']);

    expect((await call(url, 'PUT', '/api/chain', { order: ['step-b', 'step-c', 'step-a'] })).body).toEqual({ order: ['step-b', 'step-c', 'step-a'] });
    await expectChain(['step-b', 'step-c', 'step-a']);
    expect((await call(url, 'PUT', '/api/plugins/step-a/position', { index: 0 })).body).toEqual({ order: ['step-a', 'step-b', 'step-c'] });
    await expectChain(['step-a', 'step-b', 'step-c']);

    expect((await call(url, 'DELETE', '/api/plugins/step-b')).body).toEqual({ name: 'step-b', version: '1.0.0', removed: true });
    await expectChain(['step-a', 'step-c']);

    checkFlow(runtime, await events.stop(), chains);
    expect((await chainOf(url)).map((plugin) => plugin.name)).toEqual(['step-a', 'step-c']);
    // Persisted: the chain's order and state, the lockfile without the removed plugin.
    const { project, lock } = await files(dir);
    expect(project.plugins.map((entry) => [entry.name, entry.spec, entry.enabled])).toEqual([
      ['step-a', 'latest', true],
      ['step-c', '^1.0.0', true],
    ]);
    expect(Object.keys(lock.plugins).sort()).toEqual(['step-a', 'step-c']);
    // No temp file left behind by the atomic writes.
    await expect(readdir(dir)).resolves.not.toContainEqual(expect.stringMatching(/\.tmp$/));
  });

  it('upgrades and downgrades keeping the config; a config the new schema refuses keeps the old version running; an exporter swapped mid-flow exports each event once', async () => {
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    const grant = `net:${new URL(receiver.url).host}`;
    const { url, runtime, dir } = await runtimeWith(
      [
        { name: 'tagger', spec: '1.0.0', config: { label: 'kept' } },
        { name: 'mexporter', spec: '1.0.0', config: { url: receiver.url }, grants: [grant] },
      ],
      { exports: { maxAgeMs: 0, maxEvents: 20 }, exportTickMs: 10 },
    );
    const chains = [['tagger@1.0.0'], ['tagger@1.1.0'], ['tagger@2.0.0']];
    const events = flow(url);
    await waitFor(() => events.sent.length > 20);

    const upgraded = await call(url, 'PUT', '/api/plugins/tagger/version', { spec: '^1.1.0' });
    expect(upgraded.status).toBe(200);
    expect(upgraded.body).toMatchObject({ name: 'tagger', from: '1.0.0', to: '1.1.0', spec: '^1.1.0', changed: true, plugin: { version: '1.1.0', status: 'running', config: { label: 'kept' } } });
    expect(await probe(url, runtime)).toMatchObject({ trail: ['tagger@1.1.0'], tag: 'kept' });

    // The exporter too, while events are being buffered and exported.
    expect((await call(url, 'PUT', '/api/plugins/mexporter/version', { spec: '1.1.0' })).body).toMatchObject({ from: '1.0.0', to: '1.1.0' });
    await waitFor(() => events.sent.length > 80);

    // 2.0.0 needs `prefix`: the carried-over config does not validate, 1.1.0 keeps running, files unchanged.
    const before = await files(dir);
    const refused = await call(url, 'PUT', '/api/plugins/tagger/version', { spec: '^2.0.0' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('tagger@1.1.0 keeps running') });
    expect((await chainOf(url)).find((plugin) => plugin.name === 'tagger')).toMatchObject({ version: '1.1.0', status: 'running' });
    expect(await probe(url, runtime)).toMatchObject({ trail: ['tagger@1.1.0'], tag: 'kept' });
    expect(await files(dir)).toEqual(before);

    // With a config that fits: 2.0.0; then down to 1.0.0 with a 1.x config.
    expect((await call(url, 'PUT', '/api/plugins/tagger/version', { spec: '^2.0.0', config: { prefix: 'P' } })).body).toMatchObject({ from: '1.1.0', to: '2.0.0' });
    expect(await probe(url, runtime)).toMatchObject({ trail: ['tagger@2.0.0'], tag: 'P' });
    await waitFor(() => events.sent.length > 140);
    expect((await call(url, 'PUT', '/api/plugins/tagger/version', { spec: '1.0.0', config: { label: 'down' } })).body).toMatchObject({ from: '2.0.0', to: '1.0.0', changed: true });
    expect(await probe(url, runtime)).toMatchObject({ trail: ['tagger@1.0.0'], tag: 'down' });
    // The same spec again resolves to the running bytes: nothing reloaded.
    expect((await call(url, 'PUT', '/api/plugins/tagger/version', {})).body).toMatchObject({ from: '1.0.0', to: '1.0.0', changed: false });

    const sent = await events.stop();
    checkFlow(runtime, sent, chains);
    const { project, lock } = await files(dir);
    expect(project.plugins.map((entry) => [entry.name, entry.spec, entry.config])).toEqual([
      ['tagger', '1.0.0', { label: 'down' }],
      ['mexporter', '1.1.0', { url: receiver.url }],
    ]);
    expect(lock.plugins.tagger!.version).toBe('1.0.0');
    expect(lock.plugins.mexporter!.version).toBe('1.1.0');

    // Every stored event (flow and probes) exported exactly once, by one version or the other.
    await runtime.flushExports();
    const stored = runtime.queryEvents({ limit: 10_000 }).map((event) => event.uuid);
    const exported = receiver.received.flatMap((request) => (request.body as { uuids: string[] }).uuids);
    expect(exported.length).toBe(stored.length);
    expect(new Set(exported)).toEqual(new Set(stored));
    const versions = new Set(receiver.received.map((request) => (request.body as { version: string }).version));
    expect(versions).toContain('1.1.0');
  });

  it('a version change with a config that sends a secret back masked keeps the stored secret, and never answers it', async () => {
    const { url, runtime, dir } = await runtimeWith([{ name: 'vault', spec: '1.0.0', config: { apiKey: 'a-long-secret', region: 'eu' } }]);
    const answer = await call(url, 'PUT', '/api/plugins/vault/version', { spec: '1.1.0', config: { apiKey: '********', region: 'us' } });
    expect(answer.status).toBe(200);
    expect(JSON.stringify(answer.body)).not.toContain('a-long-secret');
    expect(answer.body.plugin).toMatchObject({ version: '1.1.0', config: { apiKey: '********', region: 'us' } });
    const uuid = randomUUID();
    await fetch(`${url}/capture`, { method: 'POST', body: JSON.stringify({ uuid, event: 'v', distinct_id: 'u' }) });
    expect(runtime.queryEvents({ event: 'v' })[0]!.properties.vault).toBe('1.1.0:13:us');
    expect((await files(dir)).project.plugins[0]!.config).toEqual({ apiKey: 'a-long-secret', region: 'us' });
  });

  it('refuses what would break the chain with coded errors, changing nothing', async () => {
    const { url, dir } = await runtimeWith([{ name: 'step-a' }]);
    const before = await files(dir);
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/api/plugins', { name: 'step-a' }, 409, 'ERR_PLUGIN_EXISTS'],
      ['POST', '/api/plugins', { name: 'wants-net' }, 403, 'ERR_CAPABILITY_DENIED'],
      ['POST', '/api/plugins', { name: 'no-such-plugin' }, 404, 'ERR_PLUGIN_NOT_FOUND'],
      ['POST', '/api/plugins', { name: 'step-b', spec: '^9' }, 404, 'ERR_VERSION_NOT_FOUND'],
      ['POST', '/api/plugins', { name: 'step-b', position: 5 }, 400, 'ERR_BAD_REQUEST'],
      ['POST', '/api/plugins', { name: 'step-b', config: { nope: 1 } }, 400, 'ERR_CONFIG_INVALID'],
      ['POST', '/api/plugins', { spec: '1.0.0' }, 400, 'ERR_BAD_REQUEST'],
      ['POST', '/api/plugins', { name: 'bad-setup' }, 500, 'ERR_PLUGIN_THREW'],
      ['DELETE', '/api/plugins/step-z', undefined, 404, 'ERR_PLUGIN_NOT_INSTALLED'],
      ['POST', '/api/plugins/step-z/enable', undefined, 404, 'ERR_PLUGIN_NOT_INSTALLED'],
      ['PUT', '/api/chain', { order: ['step-a', 'step-a'] }, 400, 'ERR_BAD_REQUEST'],
      ['PUT', '/api/chain', { order: ['step-b'] }, 400, 'ERR_BAD_REQUEST'],
      ['PUT', '/api/plugins/step-a/position', { index: 1 }, 400, 'ERR_BAD_REQUEST'],
      ['PUT', '/api/plugins/step-a/version', { spec: '^9' }, 404, 'ERR_VERSION_NOT_FOUND'],
      ['PUT', '/api/plugins/step-a/version', { grants: ['net:'] }, 400, 'ERR_BAD_REQUEST'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const answer = await call(url, method, path, body);
      expect({ path, body, status: answer.status, code: (answer.body.error as { code: string }).code }).toEqual({ path, body, status, code });
    }
    // The plugin whose setupPlugin threw says why; it never joined the chain.
    expect((await call(url, 'POST', '/api/plugins', { name: 'bad-setup' })).body.error).toMatchObject({ message: expect.stringContaining('no database today'), details: { chain: 'unchanged' } });
    expect((await chainOf(url)).map((plugin) => plugin.name)).toEqual(['step-a']);
    expect(await files(dir)).toEqual(before);
    // With the grant, the plugin that requests egress is added.
    expect((await call(url, 'POST', '/api/plugins', { name: 'wants-net', grants: ['net:api.example.com'] })).body).toMatchObject({ status: 'running', granted: ['net:api.example.com'] });
  });

  it('refuses a chain change a browser sends for another site (a form POST needs no body)', async () => {
    const { url } = await runtimeWith([{ name: 'step-a' }]);
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'http://evil.example' }, { origin: 'null' }]) {
      const response = await adminFetch(`${url}/api/plugins/step-a/disable`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
      expect({ headers, status: response.status }).toEqual({ headers, status: 403 });
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERR_FORBIDDEN');
    }
    expect((await chainOf(url))[0]).toMatchObject({ status: 'running' });
    // The same origin (a page of the runtime itself) and clients that are not browsers pass.
    const own = await adminFetch(`${url}/api/plugins/step-a/disable`, { method: 'POST', headers: { origin: url, 'sec-fetch-site': 'same-origin' } });
    expect(own.status).toBe(200);
    expect((await call(url, 'POST', '/api/plugins/step-a/enable')).status).toBe(200);
  });

  it('serialises concurrent management requests: every change lands, in the chain and in the files', async () => {
    const { url, dir } = await runtimeWith([{ name: 'step-a' }]);
    const answers = await Promise.all([
      call(url, 'POST', '/api/plugins', { name: 'step-b' }),
      call(url, 'POST', '/api/plugins', { name: 'step-c' }),
      call(url, 'POST', '/api/plugins', { name: 'step-d', position: 0 }),
      call(url, 'POST', '/api/plugins', { name: 'step-e' }),
      call(url, 'PUT', '/api/plugins/step-a/config', { config: {} }),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201, 201, 200]);
    const names = (await chainOf(url)).map((plugin) => plugin.name);
    expect([...names].sort()).toEqual(['step-a', 'step-b', 'step-c', 'step-d', 'step-e']);
    // Requests run in arrival order: step-d went to the front of the chain as it was then.
    const { project, lock } = await files(dir);
    expect(project.plugins.map((entry) => entry.name)).toEqual(names);
    expect(Object.keys(lock.plugins).sort()).toEqual([...names].sort());
  });

  it('writes runtime.json (url, pid) on listen and removes it on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugline-manage-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: silent, schedule: false });
    expect(await readRuntimeFile(dir)).toMatchObject({ url: running.url, pid: process.pid, stale: false });
    await running.close();
    expect(existsSync(join(dir, 'runtime.json'))).toBe(false);
  });
});
