import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime } from './index.js';
import { addPlugin, readProject, writeProject } from './project.js';
import { type PluginQuotas, QuotaCounter, quotaCache, resolveQuotas } from './quota.js';
import { MemoryCache } from './sandbox/host.js';
import { type FixturePlugin, startTestRegistry, waitFor, adminFetch, testAdminToken } from './test/helpers.js';

// Hostile fixture plugins against a real runtime on port 0: each quota holds, the plugin gets
// ERR_QUOTA_EXCEEDED, it is counted in /api/plugins and /metrics, and a neighbour plugin is unaffected.
const MB = 1024 * 1024;
const record = `const refused = (error) => (error && error.code) || String(error);`;
const hostile: FixturePlugin[] = [
  {
    name: 'cache-hog',
    // 200 x 100 KB into meta.cache (a 1 MiB quota in the test), then 100 small keys (a 20-key quota).
    code: `${record} export default { async processEvent(e, { cache }) {
      const big = 'x'.repeat(100 * 1024); let kept = 0, codes = new Set();
      for (let i = 0; i < 200; i++) { try { await cache.set('big' + i, big); kept++; } catch (error) { codes.add(refused(error)); } }
      let keys = 0;
      for (let i = 0; i < 100; i++) { try { await cache.set('k' + i, i); keys++; } catch (error) { codes.add(refused(error)); } }
      e.properties.kept = kept; e.properties.keys = keys; e.properties.codes = [...codes]; return e; } };`,
  },
  {
    name: 'storage-hog',
    code: `${record} export default { async processEvent(e, { storage, jobs }) {
      const codes = [];
      try { await storage.set('huge', 'x'.repeat(2 * 1024 * 1024)); } catch (error) { codes.push('value:' + refused(error)); }
      let stored = 0;
      for (let i = 0; i < 40; i++) { try { await storage.set('s' + i, 'y'.repeat(100 * 1024)); stored++; } catch (error) { codes.push('total:' + refused(error)); break; } }
      let queued = 0;
      try { await jobs.later({ blob: 'j'.repeat(100 * 1024) }).runIn(1, 'hour'); } catch (error) { codes.push('payload:' + refused(error)); }
      for (let i = 0; i < 50; i++) { try { await jobs.later({ i }).runIn(1, 'hour'); queued++; } catch (error) { codes.push('jobs:' + refused(error)); break; } }
      e.properties.stored = stored; e.properties.queued = queued; e.properties.codes = codes; return e; },
      jobs: { later() {} } };`,
  },
  {
    name: 'log-hog',
    code: `export default { processEvent(e, { logger, metrics }) {
      logger.info('blob', { blob: 'z'.repeat(1024 * 1024) });
      for (let i = 0; i < 150; i++) metrics.increment('name' + i);
      metrics.increment('n'.repeat(1000));
      return e; } };`,
  },
  {
    name: 'echo',
    // PostHog's self-feeding capture: two new events for every event it sees.
    code: `export default { processEvent(e) {
      if (e.event.startsWith('echo')) for (let i = 0; i < 2; i++) posthog.capture('echo', { distinct_id: e.distinct_id }).catch(() => {});
      return e; } };`,
  },
  {
    name: 'burst',
    code: `export default { processEvent(e) {
      if (e.event === 'burst') for (let i = 0; i < 300; i++) posthog.capture('child', { distinct_id: 'b', i }).catch(() => {});
      return e; } };`,
  },
  {
    name: 'fetcher',
    config: { type: 'object', properties: { url: { type: 'string' } } },
    code: `export default { async processEvent(e, { config }) { await (await fetch(config.url)).text(); e.properties.fetched = true; return e; } };`,
  },
  { name: 'neighbour', code: `export default { processEvent(e) { e.properties.neighbour = true; return e; } };` },
];

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  registry = await startTestRegistry(hostile);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry.close();
});

async function runtimeWith(plugins: { name: string; quotas?: Partial<PluginQuotas>; config?: Record<string, unknown> }[]) {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-quota-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  // The fetcher's receiver is a local test server: loopback is granted (the egress policy refuses it by default).
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, spec: '^1.0.0', config: plugin.config ?? {}, registryUrl: registry.url, grants: ['net:127.0.0.1'] });
  const project = await readProject(dir);
  for (const plugin of plugins) if (plugin.quotas) project.plugins.find((entry) => entry.name === plugin.name)!.settings = { quotas: plugin.quotas };
  await writeProject(dir, project);
  const running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: pino({ level: 'silent' }), schedule: false });
  cleanup.push(() => running.close());
  return running;
}

async function capture(url: string, body: unknown) {
  const response = await fetch(`${url}/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

type Described = { name: string; quotaExceeded: Record<string, number>; recentLogs: { message: string; fields?: Record<string, unknown> }[] };
async function plugins(url: string): Promise<{ text: string; list: Described[] }> {
  const text = await (await adminFetch(`${url}/api/plugins`)).text();
  return { text, list: (JSON.parse(text) as { plugins: Described[] }).plugins };
}

describe('per-plugin quotas (ERR_QUOTA_EXCEEDED)', () => {
  it('meta.cache: bytes and keys are bounded per plugin; the process does not hold 20 MB more', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'cache-hog', quotas: { cacheBytes: MB, cacheKeys: 20 } }, { name: 'neighbour' }]);
    const rss = process.memoryUsage().rss;
    expect((await capture(url, { batch: [{ event: 'e', distinct_id: 'd' }] })).status).toBe(200);
    const [event] = runtime.queryEvents({ event: 'e' });
    // 1 MiB holds 10 values of 100 KB (and their keys); every key past the 20-key quota is refused.
    expect(event!.properties).toMatchObject({ kept: 10, keys: 10, codes: ['ERR_QUOTA_EXCEEDED'], neighbour: true });
    const hog = (await plugins(url)).list.find((plugin) => plugin.name === 'cache-hog')!;
    expect(hog.quotaExceeded.cacheBytes).toBe(190);
    expect((hog as unknown as { quotas: PluginQuotas }).quotas).toMatchObject({ cacheBytes: MB, cacheKeys: 20, storageBytes: 64 * MB });
    expect(hog.quotaExceeded.cacheKeys).toBe(90);
    expect(await (await adminFetch(`${url}/metrics`)).text()).toMatch(/plugline_quota_exceeded_total\{plugin="cache-hog",quota="cacheBytes"\} 190/);
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * MB);
  });

  it('meta.storage (value size, total) and jobs (pending) are bounded', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'storage-hog', quotas: { storageBytes: 512 * 1024, jobsPending: 10 } }]);
    expect((await capture(url, { batch: [{ event: 'e', distinct_id: 'd' }] })).status).toBe(200);
    const [event] = runtime.queryEvents({ event: 'e' });
    expect(event!.properties).toMatchObject({ stored: 5, queued: 10, codes: ['value:ERR_QUOTA_EXCEEDED', 'total:ERR_QUOTA_EXCEEDED', 'payload:ERR_QUOTA_EXCEEDED', 'jobs:ERR_QUOTA_EXCEEDED'] });
    const hog = (await plugins(url)).list.find((plugin) => plugin.name === 'storage-hog')!;
    expect(hog.quotaExceeded).toMatchObject({ storageValueBytes: 1, storageBytes: 1, jobPayloadBytes: 1, jobsPending: 1 });
  });

  it('log lines are bounded with their fields, and metric names are capped and counted', async () => {
    const { url } = await runtimeWith([{ name: 'log-hog' }]);
    const batch = Array.from({ length: 25 }, (_, n) => ({ event: 'e', distinct_id: `d${n}` }));
    expect((await capture(url, { batch })).status).toBe(200);
    const { text, list } = await plugins(url);
    // 25 lines with 1 MB of fields each made a 300 MB answer; each line is cut to 8 KiB now.
    expect(text.length).toBeLessThan(200 * 1024);
    const hog = list.find((plugin) => plugin.name === 'log-hog')!;
    expect(hog.recentLogs.at(-1)).toMatchObject({ message: 'blob', fields: { $truncated: { fieldsChars: 1024 * 1024 + 11, limit: 8192 } } });
    expect(hog.quotaExceeded.logLineBytes).toBe(25);
    // 50 names past the 100-name quota and one name past 200 characters, per event.
    expect(hog.quotaExceeded.metricNames).toBe(25 * 51);
  });
});

describe('host calls in flight', () => {
  it('a plugin has at most hostCallsInFlight host calls at once (what the host holds for it is bounded)', async () => {
    let open = 0;
    let most = 0;
    const server = createServer((_req, res) => {
      open += 1;
      most = Math.max(most, open);
      setTimeout(() => {
        open -= 1;
        res.end('x'.repeat(1024));
      }, 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const { url, runtime } = await runtimeWith([{ name: 'fetcher', quotas: { hostCallsInFlight: 4 }, config: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` } }]);
    const batch = Array.from({ length: 40 }, (_, n) => ({ event: 'f', distinct_id: `d${n}` }));
    expect((await capture(url, { batch })).status).toBe(200);
    expect(runtime.queryEvents({ event: 'f', limit: 100 }).filter((event) => event.properties.fetched === true)).toHaveLength(40);
    expect(most).toBe(4);
  });
});

describe('events plugins emit cannot loop or flood', () => {
  it('posthog.capture twice per event: one seed makes 1 + 2 + 4 + 8 events (depth 3), then stops', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'echo' }, { name: 'neighbour' }]);
    expect((await capture(url, { batch: [{ event: 'echo-seed', distinct_id: 'loop' }, { event: 'unrelated', distinct_id: 'other' }] })).status).toBe(200);
    await waitFor(() => runtime.queryEvents({ event: 'echo', limit: 1000 }).length >= 14);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await runtime.settle();
    const echoes = runtime.queryEvents({ event: 'echo', limit: 1000 });
    expect(echoes).toHaveLength(14);
    expect(new Set(echoes.map((event) => event.properties.$plugline_depth))).toEqual(new Set([1, 2, 3]));
    expect(echoes.every((event) => event.properties.$plugline_plugin === 'echo' && event.properties.neighbour === true)).toBe(true);
    const echo = (await plugins(url)).list.find((plugin) => plugin.name === 'echo')!;
    expect(echo.quotaExceeded.captureDepth).toBe(16);
    expect(runtime.queryEvents({ event: 'unrelated' })[0]!.properties.neighbour).toBe(true);
  });

  it('posthog.capture is rate-limited per plugin', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'burst', quotas: { capturesPerSecond: 50 } }]);
    expect((await capture(url, { batch: [{ event: 'burst', distinct_id: 'b' }] })).status).toBe(200);
    await waitFor(() => runtime.queryEvents({ event: 'child', limit: 1000 }).length >= 50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await runtime.settle();
    const children = runtime.queryEvents({ event: 'child', limit: 1000 }).length;
    // One fixed window or two (if the burst straddled a second boundary).
    expect(children).toBeGreaterThanOrEqual(50);
    expect(children).toBeLessThanOrEqual(100);
    const burst = (await plugins(url)).list.find((plugin) => plugin.name === 'burst')!;
    expect(burst.quotaExceeded.capturesPerSecond).toBe(300 - children);
  });
});

describe('quotaCache accounting (unit)', () => {
  it('re-measures a list the backend trimmed, and frees expired keys', async () => {
    let now = 0;
    const counter = new QuotaCounter();
    const cache = quotaCache(new MemoryCache(() => now), resolveQuotas({ cacheBytes: 200_000, cacheKeys: 3 }), counter, () => now);
    // MemoryCache keeps 1,000 items per list: 3,000 pushes of ~100 characters stay ~100 K, under the quota.
    for (let i = 0; i < 3000; i++) await cache.lpush('list', ['x'.repeat(98)]);
    expect(await cache.llen('list')).toBe(1000);
    expect(counter.toJSON()).toEqual({});
    await cache.set('a', 1, 10);
    await cache.set('b', 2, 10);
    await expect(cache.set('c', 3)).rejects.toMatchObject({ code: 'ERR_QUOTA_EXCEEDED' });
    expect(counter.toJSON()).toEqual({ cacheKeys: 1 });
    now += 11_000;
    await cache.set('c', 3);
    expect(await cache.get('c')).toBe(3);
  });
});
