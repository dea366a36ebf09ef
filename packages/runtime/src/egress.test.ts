// Hostile plugins against the real runtime and registry (port 0, HTTP): each rule of the egress policy,
// the capability grants and the executed-code integrity check has a fixture that does what the rule
// forbids. All traffic stays on loopback: local servers are granted explicitly where a test needs them,
// and the same call is shown to fail without the grant.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { integrityKey } from './install.js';
import { startRuntime } from './index.js';
import { addPlugin, projectPaths, readLock, readProject, writeLock, writeProject } from './project.js';
import { fixtures } from './test/fixtures.js';
import { type FixturePlugin, startReceiver, startTestRegistry, waitFor, adminFetch, testAdminToken } from './test/helpers.js';

const silent = pino({ level: 'silent' });
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const cleanup: (() => Promise<unknown>)[] = [];

// Fetches every target of the event (`{ url, method?, body? }`) and records what happened on it.
const proberCode = `export default { async processEvent(e) {
  e.properties.results = [];
  for (const target of e.properties.targets || []) {
    try {
      const response = await fetch(target.url, { method: target.method || 'GET', headers: { 'content-type': 'application/json' }, body: target.body });
      e.properties.results.push({ status: response.status, body: (await response.text()).slice(0, 200) });
    } catch (error) {
      e.properties.results.push({ code: error.code, message: error.message });
    }
  }
  return e;
} };`;

const hostile: Record<string, FixturePlugin> = {
  prober: { name: 'prober', code: proberCode },
  granted: { name: 'granted-prober', code: proberCode },
  // Never asks for postgres, then queries the local superuser database anyway.
  pgSneak: {
    name: 'pg-sneak',
    code: `export default { async processEvent(e) {
      try { await arguments[1].postgres.query(${JSON.stringify(databaseUrl)}, 'SELECT 1'); e.properties.pg = 'queried'; }
      catch (error) { e.properties.pg = { code: error.code, message: error.message }; }
      return e;
    } };`,
  },
  upgraderV1: { name: 'upgrader', version: '1.0.0', code: `export default { processEvent(e) { e.properties.upgrader = 1; return e; } };` },
  upgraderV2: { name: 'upgrader', version: '2.0.0', capabilities: ['postgres', 'net:api.example.com'], code: `export default { processEvent(e) { e.properties.upgrader = 2; return e; } };` },
};

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
let secretServer: Server;
let secretUrl: string;
let secretHits = 0;
let loopHits = 0;
let redirector: Server;
let redirectUrl: string;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  registry = await startTestRegistry([...Object.values(hostile), fixtures.first, fixtures.last, fixtures.exporter]);
  // A local service a plugin must not reach unless granted (stands in for Redis, PostgreSQL, metadata).
  secretServer = createServer((_req, res) => {
    secretHits += 1;
    res.end('internal secret');
  });
  secretUrl = await listen(secretServer);
  // Redirects to the secret service, or to itself forever (/loop).
  redirector = createServer((req, res) => {
    if (req.url === '/loop') loopHits += 1;
    const location = req.url === '/loop' ? '/loop' : req.url === '/to-file' ? 'file:///etc/passwd' : `${secretUrl}/via-redirect`;
    res.writeHead(302, { location }).end();
  });
  redirectUrl = await listen(redirector);
});

afterAll(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  await registry?.close();
});

async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-egress-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function post(url: string, body: unknown) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function start(dir: string) {
  const running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: silent, schedule: false, timeoutMs: 1000, exportTickMs: 20, exports: { maxAgeMs: 0 } });
  cleanup.push(() => running.close());
  return running;
}

/** Names other than localhost that this machine resolves to loopback (its host name, /etc/hosts aliases). */
async function loopbackNames(): Promise<string[]> {
  const { lookup } = await import('node:dns/promises');
  const { hostname } = await import('node:os');
  const names: string[] = [];
  for (const name of new Set([hostname(), 'vm', 'runsc', 'localhost.localdomain', 'ip6-localhost'])) {
    const addresses = await lookup(name, { all: true }).catch(() => []);
    if (addresses.length > 0 && addresses.every((entry) => entry.address.startsWith('127.') || entry.address === '::1')) names.push(name);
  }
  return names;
}

type Result = { status?: number; body?: string; code?: string; message?: string };

/** Sends one event with `targets` through the chain and returns what each plugin's probes saw. */
async function probe(running: Awaited<ReturnType<typeof start>>, targets: { url: string; method?: string; body?: string }[]): Promise<Result[]> {
  const uuid = crypto.randomUUID();
  await post(`${running.url}/capture`, { uuid, event: 'probe', distinct_id: 'attacker', properties: { targets } });
  return running.runtime.queryEvents({ event: 'probe' }).find((event) => event.uuid === uuid)!.properties.results as Result[];
}

describe('egress policy: a plugin fetch reaches public addresses only, unless granted', () => {
  let running: Awaited<ReturnType<typeof start>>;
  let port: string;

  beforeAll(async () => {
    const dir = await tempDir();
    await addPlugin(dir, { name: 'prober', registryUrl: registry.url });
    running = await start(dir);
    port = new URL(secretUrl).port;
  });

  it('refuses loopback by name, by numeric forms, as IPv4-mapped IPv6 and through names resolving to it', async () => {
    const targets = [
      `http://localhost:${port}/`,
      `http://localhost.:${port}/`,
      `http://127.0.0.1:${port}/`,
      `http://127.1:${port}/`,
      `http://2130706433:${port}/`,
      `http://0x7f000001:${port}/`,
      `http://0177.0.0.1:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://[::1]:${port}/`,
      // Names the system resolver answers with a loopback address (/etc/hosts), e.g. the machine's own name.
      ...(await loopbackNames()).map((name) => `http://${name}:${port}/`),
    ].map((url) => ({ url }));
    const results = await probe(running, targets);
    expect(results).toHaveLength(targets.length);
    for (const [index, result] of results.entries()) {
      expect(result, targets[index]!.url).toMatchObject({ code: 'ERR_EGRESS_DENIED', message: expect.stringMatching(/refused by the egress policy: a (loopback|ipv4Mapped) address/) });
    }
    expect(results[3]!.message).toContain(`grant it with --allow-net 127.0.0.1:${port}`);
    expect(secretHits).toBe(0);
  });

  it('refuses data:, file: and blob: URLs', async () => {
    const results = await probe(running, ['data:text/plain,hello', 'file:///etc/passwd', 'blob:http://127.0.0.1/x'].map((url) => ({ url })));
    expect(results.map((result) => result.code)).toEqual(['ERR_EGRESS_DENIED', 'ERR_EGRESS_DENIED', 'ERR_EGRESS_DENIED']);
    expect(results[0]!.message).toContain('only http and https');
  });

  it("refuses the runtime's own management API: no events, no other plugin's config", async () => {
    const results = await probe(running, [{ url: `${running.url}/api/events` }, { url: `${running.url}/api/plugins` }]);
    expect(results.map((result) => result.code)).toEqual(['ERR_EGRESS_DENIED', 'ERR_EGRESS_DENIED']);
    expect(JSON.stringify(results)).not.toContain('attacker');
  });

  it('records every refusal against the plugin', () => {
    const [prober] = running.runtime.describePlugins();
    expect(prober).toMatchObject({ name: 'prober', status: 'running', requested: [], granted: [] });
    expect(prober!.errors.byCode.ERR_EGRESS_DENIED).toBeGreaterThanOrEqual(10);
    expect(prober!.recentErrors.at(-1)).toMatchObject({ code: 'ERR_EGRESS_DENIED', hook: 'fetch' });
  });
});

describe('granted hosts open exactly what they name', () => {
  it('a granted loopback port answers; the same call from an ungranted plugin fails; a redirect to an ungranted port fails', async () => {
    const dir = await tempDir();
    const redirectGrant = `net:${new URL(redirectUrl).host}`;
    await addPlugin(dir, { name: 'granted-prober', registryUrl: registry.url, grants: [`net:${new URL(secretUrl).host}`, redirectGrant] });
    await addPlugin(dir, { name: 'prober', registryUrl: registry.url });
    const running = await start(dir);
    const before = secretHits;
    const uuid = crypto.randomUUID();
    const targets = [{ url: `${secretUrl}/granted` }];
    await post(`${running.url}/capture`, { uuid, event: 'probe', distinct_id: 'u', properties: { targets } });
    const stored = running.runtime.queryEvents({ event: 'probe' })[0]!;
    expect(stored.uuid).toBe(uuid);
    expect(secretHits).toBe(before + 1);
    const plugins = running.runtime.describePlugins();
    expect(plugins.map((plugin) => [plugin.name, plugin.granted])).toEqual([
      ['granted-prober', [`net:${new URL(secretUrl).host}`, redirectGrant]],
      ['prober', []],
    ]);
    expect(plugins[1]!.errors.byCode.ERR_EGRESS_DENIED).toBe(1);
    await running.close();

    // The granted plugin alone: the granted port answers, a redirect from a granted port to an ungranted one does not.
    const only = await tempDir();
    await addPlugin(only, { name: 'granted-prober', registryUrl: registry.url, grants: [redirectGrant] });
    const second = await start(only);
    const hits = secretHits;
    const results = await probe(second, [
      { url: `${redirectUrl}/` },
      { url: `${redirectUrl}/loop` },
      { url: `${secretUrl}/direct` },
      { url: `${redirectUrl.replace('127.0.0.1', 'localhost')}/` },
      { url: `${redirectUrl}/to-file` },
    ]);
    expect(results[0]).toMatchObject({ code: 'ERR_EGRESS_DENIED', message: expect.stringContaining(`127.0.0.1:${new URL(secretUrl).port}`) });
    expect(results[1]).toMatchObject({ code: 'ERR_EGRESS_REDIRECTS', message: expect.stringContaining('more than 5 redirects') });
    expect(loopHits).toBe(6); // the request and 5 redirects followed, no more
    expect(results[2]).toMatchObject({ code: 'ERR_EGRESS_DENIED' });
    // An IP grant names the address: `localhost` resolving to it on the granted port is the same service.
    expect(results[3]!.code).toBe('ERR_EGRESS_DENIED'); // ... but the redirect it answers still goes to the ungranted port.
    expect(results[4]).toMatchObject({ code: 'ERR_EGRESS_DENIED', message: expect.stringContaining('file: URL') });
    expect(secretHits).toBe(hits);

    const granted = await tempDir();
    await addPlugin(granted, { name: 'granted-prober', registryUrl: registry.url, grants: [`net:${new URL(secretUrl).host}`] });
    const third = await start(granted);
    expect(await probe(third, [{ url: `${secretUrl}/direct` }])).toEqual([{ status: 200, body: 'internal secret' }]);
  });

  it("rerouting another plugin's export through the management API fails: the victim keeps exporting to its receiver", async () => {
    const receiver = await startReceiver(() => 200);
    cleanup.push(() => receiver.close());
    const attacker = await startReceiver(() => 200);
    cleanup.push(() => attacker.close());
    const dir = await tempDir();
    await addPlugin(dir, { name: 'prober', registryUrl: registry.url });
    await addPlugin(dir, { name: 'exporter', config: { url: receiver.url }, registryUrl: registry.url, grants: [`net:${new URL(receiver.url).host}`] });
    const running = await start(dir);
    const results = await probe(running, [
      { url: `${running.url}/api/plugins/exporter/config`, method: 'PUT', body: JSON.stringify({ config: { url: attacker.url } }) },
      { url: `${running.url}/api/plugins` },
    ]);
    expect(results.map((result) => result.code)).toEqual(['ERR_EGRESS_DENIED', 'ERR_EGRESS_DENIED']);
    expect((await readProject(dir)).plugins.find((entry) => entry.name === 'exporter')!.config).toEqual({ url: receiver.url });
    await running.runtime.flushExports();
    await waitFor(() => receiver.received.length > 0);
    expect(attacker.received).toEqual([]);
  });
});

describe('egress "granted" (an allowlist set in plugins.json)', () => {
  it('only granted hosts are reachable, and a refusal names the grant as ERR_CAPABILITY_DENIED', async () => {
    const dir = await tempDir();
    await addPlugin(dir, { name: 'granted-prober', registryUrl: registry.url, grants: [`net:${new URL(secretUrl).host}`] });
    await writeProject(dir, { ...(await readProject(dir)), egress: 'granted' });
    const running = await start(dir);
    const results = await probe(running, [{ url: `${secretUrl}/` }, { url: `${redirectUrl}/` }]);
    expect(results[0]).toEqual({ status: 200, body: 'internal secret' });
    expect(results[1]).toMatchObject({ code: 'ERR_CAPABILITY_DENIED', message: expect.stringContaining(`grant it with --allow-net 127.0.0.1:${new URL(redirectUrl).port}`) });
  });
});

describe('capabilities: requested by the plugin, granted by the operator', () => {
  it('meta.postgres.query without the postgres grant fails inside the sandbox with ERR_CAPABILITY_DENIED', async () => {
    const dir = await tempDir();
    await addPlugin(dir, { name: 'pg-sneak', registryUrl: registry.url });
    const running = await start(dir);
    await post(`${running.url}/capture`, { event: 'pg', distinct_id: 'u' });
    expect(running.runtime.queryEvents({ event: 'pg' })[0]!.properties.pg).toEqual({
      code: 'ERR_CAPABILITY_DENIED',
      message: expect.stringContaining('grant it with --allow-postgres'),
    });
    expect(running.runtime.describePlugins()[0]!.errors.byCode).toEqual({ ERR_CAPABILITY_DENIED: 1 });
  });

  it('the postgres grant alone does not open a loopback database: the connection needs its net grant too', async () => {
    const dir = await tempDir();
    await addPlugin(dir, { name: 'pg-sneak', registryUrl: registry.url, grants: ['postgres'] });
    const running = await start(dir);
    await post(`${running.url}/capture`, { event: 'pg', distinct_id: 'u' });
    expect(running.runtime.queryEvents({ event: 'pg' })[0]!.properties.pg).toMatchObject({ code: 'ERR_EGRESS_DENIED', message: expect.stringContaining(`--allow-net ${new URL(databaseUrl).host}`) });
    // With both it queries.
    const both = await tempDir();
    await addPlugin(both, { name: 'pg-sneak', registryUrl: registry.url, grants: ['postgres', `net:${new URL(databaseUrl).host}`] });
    const allowed = await start(both);
    await post(`${allowed.url}/capture`, { event: 'pg', distinct_id: 'u' });
    expect(allowed.runtime.queryEvents({ event: 'pg' })[0]!.properties.pg).toBe('queried');
  });

  it('an upgrade that requests more than was granted does not install, and does not start', async () => {
    const dir = await tempDir();
    await addPlugin(dir, { name: 'first', registryUrl: registry.url });
    await addPlugin(dir, { name: 'upgrader', spec: '1.0.0', registryUrl: registry.url });
    const projectBefore = await readFile(projectPaths(dir).project, 'utf8');
    await expect(addPlugin(dir, { name: 'upgrader', spec: '2.0.0', registryUrl: registry.url })).rejects.toMatchObject({
      code: 'ERR_CAPABILITY_DENIED',
      message: expect.stringContaining('upgrader@2.0.0 requests postgres, net:api.example.com, not granted: grant with plugline install upgrader --allow-postgres --allow-net api.example.com'),
    });
    expect(await readFile(projectPaths(dir).project, 'utf8')).toBe(projectBefore);

    // The operator edits plugins.json to the new version (no new grants): the runtime does not start it.
    const project = await readProject(dir);
    project.plugins.find((entry) => entry.name === 'upgrader')!.spec = '^2.0.0';
    await writeProject(dir, project);
    const lock = await readLock(dir);
    delete lock.plugins.upgrader;
    await writeLock(dir, lock);
    const running = await start(dir);
    const [first, upgrader] = running.runtime.describePlugins();
    expect(first).toMatchObject({ name: 'first', status: 'running' });
    expect(upgrader).toMatchObject({ name: 'upgrader', version: '2.0.0', status: 'error', requested: ['postgres', 'net:api.example.com'], granted: [] });
    expect(upgrader!.recentErrors[0]).toMatchObject({ code: 'ERR_CAPABILITY_DENIED', message: expect.stringContaining('--allow-postgres --allow-net api.example.com') });
    await post(`${running.url}/capture`, { event: 'after-upgrade', distinct_id: 'u' });
    expect(running.runtime.queryEvents({ event: 'after-upgrade' })[0]!.properties).toMatchObject({ label: 'one' });
    expect(running.runtime.queryEvents({ event: 'after-upgrade' })[0]!.properties.upgrader).toBeUndefined();

    // Granted through the management API: it starts at once, and the grant is saved to plugins.json.
    const bad = await adminFetch(`${running.url}/api/plugins/upgrader/grants`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grants: ['disk'] }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('ERR_BAD_REQUEST');
    const partial = await adminFetch(`${running.url}/api/plugins/upgrader/grants`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grants: ['postgres'] }) });
    expect(await partial.json()).toEqual({ name: 'upgrader', version: '2.0.0', granted: ['postgres'], status: 'error' });
    const put = await adminFetch(`${running.url}/api/plugins/upgrader/grants`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grants: ['postgres', 'net:api.example.com'] }),
    });
    expect(await put.json()).toEqual({ name: 'upgrader', version: '2.0.0', granted: ['postgres', 'net:api.example.com'], status: 'running' });
    expect(running.runtime.describePlugins()[1]).toMatchObject({ name: 'upgrader', status: 'running', granted: ['postgres', 'net:api.example.com'] });
    await post(`${running.url}/capture`, { event: 'granted', distinct_id: 'u' });
    expect(running.runtime.queryEvents({ event: 'granted' })[0]!.properties.upgrader).toBe(2);
    await running.close();

    // The grant is in plugins.json: a restart starts it too.
    const granted = await start(dir);
    expect(granted.runtime.describePlugins()[1]).toMatchObject({ name: 'upgrader', version: '2.0.0', status: 'running', granted: ['postgres', 'net:api.example.com'] });
  });
});

describe('what runs is what was verified', () => {
  it('an edited cache/<key>/index.js is a per-plugin ERR_PLUGIN_INTEGRITY; the other plugins run', async () => {
    const dir = await tempDir();
    await addPlugin(dir, { name: 'first', registryUrl: registry.url });
    await addPlugin(dir, { name: 'last', registryUrl: registry.url });
    const { integrity } = (await readLock(dir)).plugins.first!;
    const main = join(projectPaths(dir).cache, integrityKey(integrity), 'dist', 'index.js');
    await writeFile(main, `export default { processEvent(e) { e.properties.tampered = true; return e; } };`);
    const running = await start(dir);
    const [first, last] = running.runtime.describePlugins();
    expect(first).toMatchObject({ name: 'first', status: 'error', errors: { byCode: { ERR_PLUGIN_INTEGRITY: 1 } } });
    expect(first!.recentErrors[0]!.message).toContain(`cache/${integrityKey(integrity)}/dist/index.js differs from the verified tarball`);
    expect(last).toMatchObject({ name: 'last', status: 'running' });
    await post(`${running.url}/capture`, { event: 'x', distinct_id: 'u' });
    const stored = running.runtime.queryEvents({ event: 'x' })[0]!;
    expect(stored.properties.tampered).toBeUndefined();
    expect(stored.properties.trail).toEqual(['last']);
    // Granting it something through the management API does not bring the unverified code back.
    const put = await adminFetch(`${running.url}/api/plugins/first/grants`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grants: ['postgres'] }) });
    expect(await put.json()).toMatchObject({ name: 'first', status: 'error' });
    expect(running.runtime.describePlugins()[0]).toMatchObject({ name: 'first', status: 'error', hooks: [] });
  });
});
