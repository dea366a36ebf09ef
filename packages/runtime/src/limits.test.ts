import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { connect } from 'nats';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartRuntimeOptions, startRuntime } from './index.js';
import { addPlugin, readProject, writeProject } from './project.js';
import { type FixturePlugin, startTestRegistry, adminFetch, testAdminToken } from './test/helpers.js';

// Hostile clients (and slow plugins) against a real runtime on port 0: each bound holds, the process
// stays up, and other clients' events are stored.
const MB = 1024 * 1024;
const fixtures: FixturePlugin[] = [
  { name: 'pass', code: `export default { processEvent(e) { e.properties.passed = true; return e; } };` },
  // About 2 ms of CPU per event: a chain that cannot keep up with a flood.
  { name: 'slow', code: `export default { processEvent(e) { const until = Date.now() + 2; while (Date.now() < until) {} return e; } };` },
  { name: 'hang', code: `export default { async processEvent(e) { if (e.event === 'hang') await new Promise(() => {}); e.properties.hang_ok = true; return e; } };` },
  {
    name: 'slow-setup',
    config: { type: 'object', properties: { url: { type: 'string' } } },
    code: `export default { async setupPlugin({ config }) { await fetch(config.url); }, processEvent(e) { e.properties.set_up = true; return e; } };`,
  },
  {
    name: 'redos',
    config: { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } } },
    code: `export default { processEvent(e) { return e; } };`,
  },
];

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  registry = await startTestRegistry(fixtures);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry.close();
});

async function project(plugins: { name: string; config?: Record<string, unknown> }[]) {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-limits-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, spec: '^1.0.0', config: plugin.config ?? {}, registryUrl: registry.url });
  return dir;
}

async function runtimeWith(plugins: { name: string; config?: Record<string, unknown> }[], options: Partial<StartRuntimeOptions> = {}) {
  const running = await startRuntime({ dir: await project(plugins), port: 0, adminToken: testAdminToken, logger: pino({ level: 'silent' }), schedule: false, ...options });
  cleanup.push(() => running.close());
  return running;
}

async function post(url: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

/** A server that accepts connections and never answers (closed at the end of the file). */
async function blackHole() {
  const server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe('capture input is bounded per event and per request', () => {
  it('a 5,000-level event is refused alone; 20 concurrent clients merged with it are stored', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'pass' }]);
    const deep = `{"event":"deep","distinct_id":"x","properties":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    const [hostile, ...others] = await Promise.all([
      post(`${url}/capture`, deep),
      ...Array.from({ length: 20 }, (_, n) => post(`${url}/batch`, JSON.stringify({ batch: [{ event: 'neighbour', distinct_id: `c${n}` }] }))),
    ]);
    expect(hostile!.status).toBe(400);
    expect(hostile!.body).toMatchObject({ error: { code: 'ERR_PAYLOAD_INVALID' }, accepted: 0 });
    expect(String((hostile!.body.error as { details: string[] }).details[0])).toMatch(/nested (5002 levels deep|too deep to serialise) \(the limit is 64/);
    // 100 levels: serialisable, and refused by the depth limit.
    const hundred = await post(`${url}/capture`, `{"event":"deep","distinct_id":"x","properties":{"a":${'['.repeat(100)}${']'.repeat(100)}}}`);
    expect(String((hundred.body.error as { details: string[] }).details[0])).toMatch(/nested 102 levels deep \(the limit is 64\)/);
    expect(others.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    const stored = runtime.queryEvents({ event: 'neighbour', limit: 100 });
    expect(stored).toHaveLength(20);
    expect(stored.every((event) => event.properties.passed === true)).toBe(true);
    expect(runtime.queryEvents({ event: 'deep' })).toHaveLength(0);
  });

  it('an event over maxEventBytes is refused with its reason; its batch neighbours are stored', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'pass' }], { limits: { maxEventBytes: 64 * 1024 } });
    const batch = [
      { event: 'small', distinct_id: 'a' },
      { event: 'big', distinct_id: 'a', properties: { blob: 'b'.repeat(100 * 1024) } },
      { event: 'small', distinct_id: 'b' },
    ];
    const answer = await post(`${url}/batch`, JSON.stringify({ batch }));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ accepted: 2, stored: 2 });
    expect(String((answer.body.error as { details: string[] }).details[0])).toMatch(/characters of JSON \(the limit is 65536\)/);
    expect(runtime.queryEvents({ event: 'small' })).toHaveLength(2);
    // Through the library API too: an event that is not JSON at all is refused alone.
    const result = await runtime.ingest([
      { uuid: 'ok-1', event: 'api', distinct_id: 'x', properties: {}, timestamp: new Date().toISOString() },
      { uuid: 'bad-1', event: 'api', distinct_id: 'x', properties: { n: 10n }, timestamp: new Date().toISOString() } as never,
    ]);
    expect(result).toMatchObject({ stored: 1, refused: [{ index: 1, uuid: 'bad-1' }] });
    expect(result.refused![0]!.reason).toMatch(/not JSON-serialisable/);
  });

  it('gzip cannot amplify past 20 MiB per request; memory stays bounded and the runtime keeps answering', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'pass' }]);
    const rss = process.memoryUsage().rss;
    // 45 KB that inflate to ~45 MB (the bomb), as gzip-js and as Content-Encoding: gzip, four at once.
    const bomb = gzipSync(Buffer.from(JSON.stringify({ event: 'bomb', distinct_id: 'x', properties: { blob: ' '.repeat(45 * MB) } })), { level: 9 });
    expect(bomb.length).toBeLessThan(100 * 1024);
    const answers = await Promise.all([
      post(`${url}/e/?compression=gzip-js`, bomb, { 'content-type': 'text/plain' }),
      post(`${url}/e/?compression=gzip-js`, bomb, { 'content-type': 'text/plain' }),
      post(`${url}/capture`, bomb, { 'content-encoding': 'gzip' }),
      post(`${url}/capture`, bomb, { 'content-encoding': 'gzip' }),
    ]);
    for (const answer of answers) {
      expect([400, 413, 503]).toContain(answer.status);
      expect((answer.body.error as { code: string }).code).toMatch(/ERR_PAYLOAD_INVALID|ERR_UNAVAILABLE/);
    }
    expect(answers.filter((answer) => answer.status !== 503).length).toBeGreaterThanOrEqual(2);
    expect(runtime.queryEvents({ event: 'bomb' })).toHaveLength(0);
    expect((await post(`${url}/capture`, JSON.stringify({ event: 'after', distinct_id: 'y' }))).status).toBe(200);
    // A dozen events just under the per-event cap (the dozen 45 MB events made this answer 500).
    const near = gzipSync(Buffer.from(JSON.stringify({ batch: Array.from({ length: 12 }, (_, n) => ({ event: 'near', distinct_id: `n${n}`, properties: { blob: 'n'.repeat(1000 * 1024) } })) })));
    expect((await post(`${url}/batch?compression=gzip-js`, near, { 'content-type': 'text/plain' })).status).toBe(200);
    const listed = await adminFetch(`${url}/api/events`);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { count: number }).count).toBe(13);
    // However many are asked for, an answer holds at most maxBytes of events (at least one), and says so.
    const page = runtime.store.queryEventPage({ event: 'near', limit: 10_000, maxBytes: 5 * 1000 * 1024 });
    expect(page.truncated).toBe(true);
    expect(page.events.length).toBeGreaterThanOrEqual(1);
    expect(page.events.length).toBeLessThan(12);
    expect(JSON.stringify(page.events).length).toBeLessThanOrEqual(5 * 1000 * 1024 + 1024);
    const all = (await (await adminFetch(`${url}/api/events?limit=10000`)).json()) as { count: number; truncated?: boolean };
    expect(all).toMatchObject({ count: 13 });
    expect(all.truncated).toBeUndefined();
    expect(process.memoryUsage().rss - rss).toBeLessThan(400 * MB);
  });
});

const natsUrl = process.env.PLUGLINE_NATS_URL;
describe.skipIf(!natsUrl)('capture bounds before the queue (PLUGLINE_NATS_URL)', () => {
  it('an event over maxEventBytes is refused alone and never published; the others are queued', async () => {
    const suffix = randomBytes(4).toString('hex').toUpperCase();
    const stream = `LIMITS_${suffix}`;
    cleanup.push(async () => {
      const nc = await connect({ servers: natsUrl! });
      const jsm = await nc.jetstreamManager();
      for (const name of [stream, `${stream}_DLQ`]) await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    });
    const { url } = await runtimeWith([{ name: 'pass' }], {
      limits: { maxEventBytes: 64 * 1024 },
      source: { kind: 'nats', url: natsUrl!, role: 'capture', stream, subjectPrefix: `limits.${suffix.toLowerCase()}`, partitions: 2 },
    });
    const batch = [{ event: 'small', distinct_id: 'a' }, { event: 'big', distinct_id: 'a', properties: { blob: 'b'.repeat(100 * 1024) } }];
    const answer = await post(`${url}/batch`, JSON.stringify({ batch }));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ accepted: 1, queued: 1 });
    expect(String((answer.body.error as { details: string[] }).details[0])).toMatch(/the limit is 65536/);
  });
});

describe('backpressure', () => {
  it('a flood gets 503 with Retry-After once the queue is full; RSS stays bounded; later captures are stored', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'slow' }], { timeoutMs: 10_000, limits: { maxQueuedEvents: 300 } });
    const rss = process.memoryUsage().rss;
    const batch = (n: number) => JSON.stringify({ batch: Array.from({ length: 50 }, (_, i) => ({ event: 'flood', distinct_id: `f${n}`, properties: { i } })) });
    // 60 concurrent clients x 50 events: 10 times what the queue holds (bounded in count and time).
    const answers = await Promise.all(Array.from({ length: 60 }, (_, n) => post(`${url}/batch`, batch(n))));
    const unavailable = answers.filter((answer) => answer.status === 503);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(unavailable.every((answer) => answer.retryAfter === '1' && (answer.body.error as { code: string }).code === 'ERR_UNAVAILABLE')).toBe(true);
    expect(answers.every((answer) => answer.status === 200 || answer.status === 503)).toBe(true);
    const stored = answers.filter((answer) => answer.status === 200).reduce((sum, answer) => sum + Number(answer.body.stored), 0);
    expect(runtime.queryEvents({ event: 'flood', limit: 10_000 })).toHaveLength(stored);
    expect(runtime.gate.events).toBe(0);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * MB);
    expect(await (await adminFetch(`${url}/metrics`)).text()).toMatch(/plugline_capture_unavailable_total\{reason="queue_full"\} [1-9]/);
    expect((await post(`${url}/capture`, JSON.stringify({ event: 'calm', distinct_id: 'z' }))).status).toBe(200);
  });
});

describe('stalls', () => {
  it('the port opens before a hanging setupPlugin; capture answers 503 + Retry-After until the chain is loaded', async () => {
    const hole = await blackHole();
    const dir = await project([{ name: 'slow-setup', config: { url: hole } }, { name: 'pass' }]);
    let listening: string | undefined;
    const onListening = (at: string) => {
      listening = at;
    };
    const starting = startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: pino({ level: 'silent' }), schedule: false, wallTimeoutMs: 1500, onListening });
    while (!listening) await new Promise((resolve) => setTimeout(resolve, 10));
    const early = await post(`${listening}/capture`, JSON.stringify({ event: 'early', distinct_id: 'e' }));
    expect(early).toMatchObject({ status: 503, retryAfter: '1', body: { error: { code: 'ERR_UNAVAILABLE' } } });
    expect((await fetch(`${listening}/healthz`)).status).toBe(200);
    const running = await starting;
    cleanup.push(() => running.close());
    const later = await post(`${running.url}/capture`, JSON.stringify({ event: 'later', distinct_id: 'e' }));
    expect(later.status).toBe(200);
    // The hung setup timed out (wall clock) and left that plugin in error; the rest of the chain ran.
    expect(running.runtime.queryEvents({ event: 'later' })[0]!.properties.passed).toBe(true);
    const described = running.runtime.describePlugins().find((plugin) => plugin.name === 'slow-setup')!;
    expect(described.status).toBe('error');
  });

  it('an async hook that never resolves: that event alone leaves its batch after the per-event bound; its neighbours pass', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'hang' }, { name: 'pass' }]);
    // With the old behaviour (30 s wall clock per crossing, no per-event bound) this test would pass its 30 s timeout.
    const answers = await Promise.all([
      post(`${url}/batch`, JSON.stringify({ batch: [{ event: 'hang', distinct_id: 'h' }, { event: 'same-batch', distinct_id: 's1' }, { event: 'same-batch', distinct_id: 's2' }] })),
      ...Array.from({ length: 3 }, (_, n) => post(`${url}/capture`, JSON.stringify({ event: 'unrelated', distinct_id: `u${n}` }))),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    // The stuck event is kept as it was before that plugin, the error recorded; the rest of the chain ran.
    const hung = runtime.queryEvents({ event: 'hang' })[0]!;
    expect(hung.properties.$plugins_failed).toEqual(['hang (1.0.0)']);
    expect(hung.properties.hang_ok).toBeUndefined();
    expect(hung.properties.passed).toBe(true);
    // Its batch neighbours went through the hanging plugin normally.
    const neighbours = runtime.queryEvents({ event: 'same-batch' });
    expect(neighbours).toHaveLength(2);
    expect(neighbours.every((event) => event.properties.hang_ok === true && event.properties.$plugins_failed === undefined)).toBe(true);
    expect(runtime.queryEvents({ event: 'unrelated' })).toHaveLength(3);
    const hang = runtime.describePlugins().find((plugin) => plugin.name === 'hang')!;
    expect(hang.errors.byCode).toEqual({ ERR_PLUGIN_TIMEOUT: 1 });
    expect(hang.recentErrors[0]!.message).toContain('processEvent did not settle within 2500 ms');
    // Only the event timed out: the isolate was not restarted.
    expect(hang.restarts).toBe(0);
  });
});

describe('regular expressions from untrusted schemas', () => {
  it('a catastrophic pattern in a plugin config schema is checked in linear time at install', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugline-limits-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    // 2^40 backtracking steps with JavaScript's engine: this would never finish.
    await expect(addPlugin(dir, { name: 'redos', spec: '^1.0.0', config: { s: `${'a'.repeat(40)}!` }, registryUrl: registry.url })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await addPlugin(dir, { name: 'redos', spec: '^1.0.0', config: { s: 'aaaa' }, registryUrl: registry.url });
    const written = await readProject(dir);
    expect(written.plugins[0]!.config).toEqual({ s: 'aaaa' });
    await writeProject(dir, written);
  });
});
