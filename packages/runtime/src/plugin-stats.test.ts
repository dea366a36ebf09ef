// Per-plugin chain stats, GET /api/plugins/:name and GET /api/plugins/:name/logs against a real
// registry and a real runtime on port 0, over HTTP.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PluginDescription, PluginLogLine } from './index.js';
import { nearestRank } from './plugin-stats.js';
import { addPlugin, readProject, writeProject } from './project.js';
import { startRuntime } from './server.js';
import { type FixturePlugin, adminFetch, startTestRegistry, testAdminToken } from './test/helpers.js';

const SECRET = 'sk-live-do-not-show-1234';
const fixtures: FixturePlugin[] = [
  { name: 'st-enricher', code: 'export default { processEvent(e) { e.properties.enriched = true; return e; } };' },
  { name: 'st-thrower', code: "export default { processEvent(e) { if (e.event === 'boom') throw new TypeError('kaboom'); return e; } };" },
  { name: 'st-looper', code: "export default { processEvent(e) { if (e.event === 'loop') { for (;;) {} } return e; } };" },
  { name: 'st-dropper', code: "export default { processEvent(e) { return e.event === 'drop' ? null : e; } };" },
  { name: 'st-listener', code: 'export default { onEvent() {} };' },
  {
    name: 'st-talker',
    config: { type: 'object', properties: { apiKey: { type: 'string', writeOnly: true } }, required: ['apiKey'] },
    // Eight lines per event, two at each level, one of them carrying the secret.
    code: `export default { processEvent(e, { config, logger }) {
      const n = e.properties.n;
      console.debug('debug ' + n); logger.debug('debug2 ' + n);
      console.info('info ' + n); logger.info('info2 ' + n, { key: config.apiKey });
      console.warn('warn ' + n); logger.warn('warn2 ' + n);
      console.error('error ' + n + ' with ' + config.apiKey); logger.error('error2 ' + n);
      return e;
    } };`,
  },
];

const silent = pino({ level: 'silent' });
let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  registry = await startTestRegistry(fixtures);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry?.close();
});

async function runtimeWith(plugins: { name: string; config?: Record<string, unknown>; settings?: Record<string, number> }[], options: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-stats-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, config: plugin.config ?? {}, registryUrl: registry.url });
  const project = await readProject(dir);
  for (const plugin of plugins) if (plugin.settings) project.plugins.find((entry) => entry.name === plugin.name)!.settings = plugin.settings;
  await writeProject(dir, project);
  const running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: silent, schedule: false, ...options });
  cleanup.push(() => running.close());
  return running;
}

const capture = async (url: string, events: { event: string; n?: number }[]) => {
  const response = await fetch(`${url}/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ batch: events.map(({ event, n }) => ({ event, distinct_id: 'u', properties: { n: n ?? 0 } })) }),
  });
  expect(response.status).toBe(200);
};
const get = async <T>(url: string) => {
  const response = await adminFetch(url);
  return { status: response.status, body: (await response.json()) as T };
};
const listed = async (url: string) => (await get<{ plugins: PluginDescription[] }>(`${url}/api/plugins`)).body.plugins;
const statsOf = async (url: string) => Object.fromEntries((await listed(url)).map((plugin) => [plugin.name, plugin.stats]));

describe('per-plugin chain stats', () => {
  it('counts what each processEvent step was given, passed on, dropped and failed, with p50/p99 time per event', async () => {
    const { url } = await runtimeWith([{ name: 'st-enricher' }, { name: 'st-thrower' }, { name: 'st-looper', settings: { timeoutMs: 100 } }, { name: 'st-dropper' }, { name: 'st-listener' }]);
    const zero = { eventsIn: 0, eventsOut: 0, dropped: 0, failed: 0, timing: { samples: 0, p50Ms: null, p99Ms: null } };
    expect((await statsOf(url))['st-enricher']).toEqual(zero);

    await capture(url, [{ event: 'ok' }, { event: 'drop' }, { event: 'boom' }, { event: 'ok' }, { event: 'drop' }, { event: 'ok' }]);
    let stats = await statsOf(url);
    expect(stats['st-enricher']).toMatchObject({ eventsIn: 6, eventsOut: 6, dropped: 0, failed: 0 });
    // The event the thrower failed on goes on, as it was, to the next plugins.
    expect(stats['st-thrower']).toMatchObject({ eventsIn: 6, eventsOut: 5, dropped: 0, failed: 1 });
    expect(stats['st-looper']).toMatchObject({ eventsIn: 6, eventsOut: 6, dropped: 0, failed: 0 });
    expect(stats['st-dropper']).toMatchObject({ eventsIn: 6, eventsOut: 4, dropped: 2, failed: 0 });
    expect(stats['st-listener']).toEqual(zero);
    for (const name of ['st-enricher', 'st-thrower', 'st-looper', 'st-dropper']) {
      const timing = stats[name]!.timing;
      expect(timing.samples).toBe(1);
      expect(timing.p50Ms).toBeGreaterThan(0);
      expect(timing.p99Ms).toBe(timing.p50Ms);
    }

    // A timeout on one event of a batch (the rest run again) and a crossing that fails as a whole.
    await capture(url, [{ event: 'ok' }, { event: 'loop' }, { event: 'drop' }]);
    await capture(url, [{ event: 'loop' }]);
    stats = await statsOf(url);
    expect(stats['st-enricher']).toMatchObject({ eventsIn: 10, eventsOut: 10 });
    expect(stats['st-looper']).toMatchObject({ eventsIn: 10, eventsOut: 8, dropped: 0, failed: 2 });
    // Events dropped earlier are not given to later steps.
    expect(stats['st-dropper']).toMatchObject({ eventsIn: 10, eventsOut: 7, dropped: 3, failed: 0 });
    expect(stats['st-enricher']!.timing.samples).toBe(3);
    // The looper's failed crossings are not timed.
    expect(stats['st-looper']!.timing.samples).toBe(1);
    for (const name of Object.keys(stats)) {
      const { eventsIn, eventsOut, dropped, failed } = stats[name]!;
      expect(eventsIn).toBe(eventsOut + dropped + failed);
    }

    const metrics = await (await adminFetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/plugline_plugin_events_total\{plugin="st-dropper",outcome="dropped"\} 3\n/);
    expect(metrics).toMatch(/plugline_plugin_events_total\{plugin="st-looper",outcome="failed"\} 2\n/);
    expect(metrics).toMatch(/plugline_plugin_events_total\{plugin="st-enricher",outcome="in"\} 10\n/);
    expect(metrics).not.toMatch(/plugline_plugin_events_total\{plugin="st-listener"/);
  });

  it('computes nearest-rank percentiles', () => {
    expect(nearestRank([], 50)).toBeNull();
    expect(nearestRank([7], 99)).toBe(7);
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(nearestRank(values, 50)).toBe(50);
    expect(nearestRank(values, 99)).toBe(99);
    expect(nearestRank([1, 2, 3, 4], 50)).toBe(2);
  });
});

describe('GET /api/plugins/:name and /logs', () => {
  it('answers one plugin with every kept log line, and its logs by level and limit, secrets masked', async () => {
    const { url } = await runtimeWith([{ name: 'st-enricher' }, { name: 'st-talker', config: { apiKey: SECRET } }], { recentLines: 80 });
    // 11 events x 8 lines: 88 logged, the last 80 kept.
    await capture(url, Array.from({ length: 11 }, (_, n) => ({ event: 'talk', n })));
    const inList = (await listed(url)).find((plugin) => plugin.name === 'st-talker')!;
    const one = await get<PluginDescription>(`${url}/api/plugins/st-talker`);
    expect(one.status).toBe(200);
    const { recentLogs, ...rest } = one.body;
    const { recentLogs: listedLogs, ...listedRest } = inList;
    expect(rest).toEqual(listedRest);
    expect(rest.stats).toMatchObject({ eventsIn: 11, eventsOut: 11 });
    expect(listedLogs).toHaveLength(50);
    expect(recentLogs).toHaveLength(80);
    expect(recentLogs.slice(-50)).toEqual(listedLogs);
    expect(recentLogs[0]!.message).toBe('debug 1');
    expect(recentLogs.at(-1)!.message).toBe('error2 10');

    const logs = async (query: string) => get<{ logs: PluginLogLine[] } & { error?: { code: string; message: string } }>(`${url}/api/plugins/st-talker/logs${query}`);
    const all = await logs('');
    expect(all.status).toBe(200);
    expect(all.body.logs).toEqual(recentLogs);
    const warn = await logs('?level=warn&limit=5');
    expect(warn.body.logs.map((line) => `${line.level}:${line.message}`)).toEqual(['error:error2 9', 'warn:warn 10', 'warn:warn2 10', 'error:error 10 with ********', 'error:error2 10']);
    const errors = (await logs('?level=error&limit=80')).body.logs;
    expect(errors).toHaveLength(20);
    expect(errors.every((line) => line.level === 'error')).toBe(true);
    const info = (await logs('?level=info')).body.logs;
    expect(info.some((line) => line.level === 'debug')).toBe(false);
    expect(info.find((line) => line.message === 'info2 10')).toEqual({ at: expect.any(String), level: 'info', message: 'info2 10', fields: { key: '********' } });
    // The secret is nowhere: not in the one-plugin answer, not in any log line.
    expect(JSON.stringify(one.body)).not.toContain(SECRET);
    expect(JSON.stringify(all.body)).not.toContain(SECRET);
    expect(JSON.stringify(one.body)).toContain('********');

    for (const query of ['?limit=81', '?limit=0', '?limit=abc', '?level=loud', '?level=warn&limit=-1']) {
      const refused = await logs(query);
      expect(refused.status, query).toBe(400);
      expect(refused.body.error?.code).toBe('ERR_BAD_REQUEST');
    }
    for (const path of ['/api/plugins/nope', '/api/plugins/nope/logs']) {
      const missing = await get<{ error: { code: string } }>(`${url}${path}`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('ERR_PLUGIN_NOT_INSTALLED');
      expect((await fetch(`${url}${path}`)).status).toBe(401);
    }
    expect((await fetch(`${url}/api/plugins/st-talker/logs`)).status).toBe(401);
  });
});
