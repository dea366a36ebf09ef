// Delivery guarantees (issue #16): the retry schedule, durable onEvent RetryError retries (surviving a
// SIGKILL of a plugline-runtime child), bulk dead-letter re-drive, re-drive on recovery, and the
// process guard. Real registry, real runtimes, real HTTP receivers.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginEvent } from '@plugline/sdk';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin, readProject, writeProject } from './project.js';
import { defaultRetryPolicy, nextAttempt, retrySchedule } from './retry-policy.js';
import { startRuntime } from './server.js';
import { fixtures } from './test/fixtures.js';
import { startReceiver, startTestRegistry, waitFor } from './test/helpers.js';

// The management routes (/api/*, /metrics) need the admin token; every runtime here is started with this one.
const adminToken = 'delivery-tests-admin-token';
const authorized = { headers: { authorization: `Bearer ${adminToken}` } };

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const mainScript = join(packageDir, 'dist', 'main.js');
const silent = pino({ level: 'silent' });
const cleanup: (() => Promise<unknown>)[] = [];
let registry: Awaited<ReturnType<typeof startTestRegistry>>;

/** Calls its receiver from onEvent; a 5xx answer throws a RetryError, a 4xx a plain Error. */
const notifier = {
  name: 'notifier',
  config: { type: 'object' as const, properties: { url: { type: 'string' as const } }, required: ['url'] },
  code: `export default {
    async onEvent(event, { config }) {
      const response = await fetch(config.url, { method: 'POST', body: JSON.stringify([event.uuid]) });
      if (response.status >= 500) throw new RetryError('receiver answered ' + response.status);
      if (!response.ok) throw new Error('receiver refused ' + response.status);
    },
  };`,
};

/** PostHog's composeWebhook: one request per event, sent by the host. */
const composer = {
  name: 'composer',
  config: { type: 'object' as const, properties: { url: { type: 'string' as const } }, required: ['url'] },
  code: `export function composeWebhook(event, { config }) {
    return { url: config.url, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([event.uuid]) };
  }`,
};

/** A PostHog job that calls its receiver; a 5xx answer throws a RetryError. */
const jobRunner = {
  name: 'job-runner',
  config: { type: 'object' as const, properties: { url: { type: 'string' as const } }, required: ['url'] },
  code: `export const jobs = {
    async deliver(payload, { config }) {
      const response = await fetch(config.url, { method: 'POST', body: JSON.stringify([payload.uuid]) });
      if (response.status >= 500) throw new RetryError('receiver answered ' + response.status);
    },
  };
  export async function processEvent(event, { jobs }) { await jobs.deliver({ uuid: event.uuid }).runNow(); return event; }`,
};

/** A shortened schedule: 50 ms doubling to 400 ms, for a minute (the default: 1 s to 10 min, for 4 h). */
const shortSchedule = { exportMaxAgeMs: 0, exportBackoffBaseMs: 50, exportBackoffMaxMs: 400, exportRetryWindowMs: 60_000 };

/** The one place this file's projects are made: plugins with their configs and settings. */
async function project(plugins: { name: string; config: Record<string, unknown>; settings?: Record<string, unknown> }[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-delivery-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  // The receivers are local test servers: loopback must be granted (the egress policy refuses it by default).
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, spec: '^1.0.0', config: plugin.config, registryUrl: registry.url, grants: ['net:127.0.0.1'] });
  const written = await readProject(dir);
  for (const entry of written.plugins) entry.settings = { ...shortSchedule, ...plugins.find((plugin) => plugin.name === entry.name)?.settings };
  await writeProject(dir, written);
  return dir;
}

const events = (count: number, tag = 'e'): PluginEvent[] =>
  Array.from({ length: count }, (_, i) => ({ uuid: randomUUID(), event: `${tag}${i}`, distinct_id: `p${i}`, properties: {}, timestamp: new Date().toISOString() }));

async function post(url: string, batch: PluginEvent[]) {
  const response = await fetch(`${url}/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  expect(response.status).toBe(200);
}
const getJson = async <T>(url: string): Promise<T> => (await (await fetch(url, authorized)).json()) as T;
const postJson = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: 'POST', headers: { ...authorized.headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
/** Every uuid a receiver got (bodies are arrays of uuids). */
const receivedUuids = (receiver: { received: { status: number; body: unknown }[] }) => new Set(receiver.received.filter((r) => r.status < 300).flatMap((r) => r.body as string[]));

beforeAll(async () => {
  registry = await startTestRegistry([fixtures.exporter, notifier, jobRunner, composer]);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry?.close();
});

describe('the retry schedule', () => {
  it('by default retries for 4 hours, 1 s doubling to 10 minutes, with its last attempt at the end of the window', () => {
    const schedule = retrySchedule(defaultRetryPolicy);
    expect(schedule.slice(0, 12).map((row) => row.delayMs / 1000)).toEqual([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600]);
    expect(schedule.at(-1)!.atMs).toBe(4 * 3_600_000);
    expect(schedule.every((row) => row.delayMs <= 600_000)).toBe(true);
    // Well past a one-hour outage, and the attempt cap does not cut the window short.
    expect(schedule.filter((row) => row.atMs <= 3_600_000).length).toBeGreaterThanOrEqual(14);
    expect(schedule.length).toBeLessThan(defaultRetryPolicy.maxAttempts);
  });

  it('jitters each delay within [half, all] of the backoff, never past the window, then is exhausted', () => {
    const start = 1_000_000;
    expect(nextAttempt(defaultRetryPolicy, 3, start, start, () => 0)).toEqual({ exhausted: false, at: start + 2000 });
    expect(nextAttempt(defaultRetryPolicy, 3, start, start, () => 1)).toEqual({ exhausted: false, at: start + 4000 });
    const nearEnd = start + defaultRetryPolicy.retryWindowMs - 1000;
    expect(nextAttempt(defaultRetryPolicy, 30, start, nearEnd, () => 1)).toEqual({ exhausted: false, at: start + defaultRetryPolicy.retryWindowMs });
    expect(nextAttempt(defaultRetryPolicy, 31, start, start + defaultRetryPolicy.retryWindowMs)).toEqual({ exhausted: true });
    expect(nextAttempt({ ...defaultRetryPolicy, maxAttempts: 3 }, 3, start, start)).toEqual({ exhausted: true });
  });
});

/** A plugline-runtime child process on `dir` (port 0); `kill` SIGKILLs it and waits for its exit. */
async function spawnRuntime(dir: string): Promise<{ url: string; kill: () => Promise<void> }> {
  if (!existsSync(mainScript)) throw new Error('packages/runtime/dist/main.js is missing: build @plugline/runtime first');
  const env: Record<string, string | undefined> = { ...process.env, PLUGLINE_RUNTIME_DIR: dir, PLUGLINE_RUNTIME_ADMIN_TOKEN: adminToken, PLUGLINE_RUNTIME_PORT: '0', LOG_LEVEL: 'info', REDIS_URL: '' };
  delete env.PLUGLINE_SOURCE;
  delete env.PLUGLINE_DATA_DIR;
  const child: ChildProcess = spawn(process.execPath, [mainScript], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async () => {
    child.kill('SIGKILL');
    await exited;
  };
  cleanup.push(kill);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await waitFor(() => /"url":"(http:[^"]+)"[^\n]*plugline runtime listening/.exec(output)?.[1], 15_000);
  return { url, kill };
}

describe('onEvent and composeWebhook first attempts', () => {
  for (const [hook, plugin] of [
    ['onEvent', 'notifier'],
    ['composeWebhook', 'composer'],
  ] as const) {
    it(`survive a SIGKILL while they run (${hook}): the events are handed to ${hook} again by the next runtime`, async () => {
      // A receiver that holds every request open until released: onEvent is in flight when the runtime dies.
      let holding = true;
      const received: string[] = [];
      const server = createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        received.push(...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[]));
        if (!holding) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const dir = await project([{ name: plugin, config: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify` } }]);
      const { url, kill } = await spawnRuntime(dir);
      const sent = events(3, 'first');
      await post(url, sent);
      // The hook has sent its requests and waits for the answers: the events are stored, not yet handled.
      await waitFor(() => sent.every((event) => received.includes(event.uuid)));
      await kill();
      server.closeAllConnections();
      holding = false;
      received.length = 0;

      const restarted = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
      cleanup.push(() => restarted.close());
      await waitFor(() => sent.every((event) => received.includes(event.uuid)), 15_000);
      await waitFor(() => restarted.runtime.store.pendingRetries().length === 0);
      expect(restarted.runtime.store.deadLetters()).toEqual([]);
    }, 40_000);
  }

  it('leave nothing behind when they deliver: no retry row, no retry counted', async () => {
    const receiver = await startReceiver(() => 200);
    cleanup.push(() => receiver.close());
    const dir = await project([{ name: 'notifier', config: { url: `${receiver.url}/notify` } }]);
    const { url, runtime } = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
    cleanup.push(() => runtime.close());
    const sent = events(4, 'ok');
    await post(url, sent);
    await waitFor(() => sent.every((event) => receivedUuids(receiver).has(event.uuid)));
    await runtime.settle();
    expect(runtime.store.pendingRetries()).toEqual([]);
    expect(await (await fetch(`${url}/metrics`, authorized)).text()).not.toMatch(/plugline_retry_attempts_total\{plugin="notifier"/);
  });
});

describe('PostHog jobs that throw RetryError', () => {
  it('are retried with the export policy past the old 3 attempts, then delivered', async () => {
    let failures = 0;
    const receiver = await startReceiver(() => (++failures <= 6 ? 503 : 200));
    cleanup.push(() => receiver.close());
    const dir = await project([{ name: 'job-runner', config: { url: `${receiver.url}/job` } }]);
    const { url, runtime } = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
    cleanup.push(() => runtime.close());
    const [event] = events(1, 'job');
    await post(url, [event!]);
    await waitFor(() => receivedUuids(receiver).has(event!.uuid), 20_000);
    expect(receiver.received.filter((request) => request.status === 503)).toHaveLength(6);
    await waitFor(() => runtime.store.pendingRetries().length === 0);
    expect(runtime.store.deadLetters()).toEqual([]);
    const metrics = await (await fetch(`${url}/metrics`, authorized)).text();
    expect(metrics).toMatch(/plugline_retry_attempts_total\{plugin="job-runner",kind="job",outcome="success"\} 1/);
  });

  it('are dead-lettered when the policy runs out (hook job) and run again when replayed', async () => {
    let status = 503;
    const receiver = await startReceiver(() => status);
    cleanup.push(() => receiver.close());
    const dir = await project([{ name: 'job-runner', config: { url: `${receiver.url}/job` }, settings: { exportMaxAttempts: 2 } }]);
    const { url, runtime } = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
    cleanup.push(() => runtime.close());
    const [event] = events(1, 'doomed-job');
    await post(url, [event!]);
    const [dead] = await waitFor(() => (runtime.store.deadLetters().length > 0 ? runtime.store.deadLetters() : undefined), 20_000);
    expect(dead).toMatchObject({ plugin: 'job-runner', hook: 'job', code: 'ERR_RETRY_EXHAUSTED', attempts: 2 });
    status = 200;
    expect(await postJson(`${url}/api/dead-letters/replay`, { hook: 'job' })).toMatchObject({ status: 202, body: { replayed: 1 } });
    await waitFor(() => receivedUuids(receiver).has(event!.uuid));
    await waitFor(() => runtime.store.pendingRetries().length === 0);
    expect(runtime.store.deadLetters()).toEqual([]);
  });
});

describe('onEvent RetryError', () => {
  it('is retried durably: pending retries survive a SIGKILL of the runtime, and every event is handled after recovery', async () => {
    let failing = true;
    const receiver = await startReceiver(() => (failing ? 503 : 200));
    cleanup.push(() => receiver.close());
    const dir = await project([{ name: 'notifier', config: { url: `${receiver.url}/notify` } }]);

    const { url, kill } = await spawnRuntime(dir);
    const sent = [...events(5, 'a'), ...events(5, 'b')];
    await post(url, sent.slice(0, 5));
    await post(url, sent.slice(5));
    // Both crossings failed with RetryError and are now rows in the store, retried with backoff.
    const pending = await waitFor(async () => {
      const { plugins } = await getJson<{ plugins: { plugin: string; pendingRetries: number; nextRetryAt: number | null }[] }>(`${url}/api/delivery`);
      const row = plugins.find((p) => p.plugin === 'notifier');
      return row && row.pendingRetries === 2 && receiver.received.length >= 12 ? row : undefined;
    });
    expect(pending.nextRetryAt).toEqual(expect.any(Number));
    expect((await getJson<{ deadLetters: unknown[] }>(`${url}/api/dead-letters`)).deadLetters).toEqual([]);
    await kill();

    failing = false;
    const restarted = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
    cleanup.push(() => restarted.close());
    await waitFor(() => sent.every((event) => receivedUuids(receiver).has(event.uuid)), 15_000);
    await waitFor(() => restarted.runtime.store.pendingRetries().length === 0);
    expect(restarted.runtime.store.deadLetters()).toEqual([]);
    const metrics = await (await fetch(`${restarted.url}/metrics`, authorized)).text();
    expect(metrics).toMatch(/plugline_retry_attempts_total\{plugin="notifier",kind="onEvent",outcome="success"\} [1-9]/);
  }, 40_000);

  it('is dead-lettered after its window (hook onEvent, ERR_RETRY_EXHAUSTED) and replayed from there; other errors are not retried', async () => {
    let status = 503;
    const receiver = await startReceiver(() => status);
    cleanup.push(() => receiver.close());
    const dir = await project([{ name: 'notifier', config: { url: `${receiver.url}/notify` }, settings: { exportRetryWindowMs: 300 } }]);
    const { url, runtime } = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
    cleanup.push(() => runtime.close());
    const [event] = events(1);
    await post(url, [event!]);
    const [dead] = await waitFor(() => (runtime.store.deadLetters().length > 0 ? runtime.store.deadLetters() : undefined));
    expect(dead).toMatchObject({ plugin: 'notifier', hook: 'onEvent', code: 'ERR_RETRY_EXHAUSTED', eventCount: 1 });
    expect(receiver.received.length).toBeGreaterThanOrEqual(2);

    status = 200;
    const replay = await postJson(`${url}/api/dead-letters/replay`, { hook: 'onEvent' });
    expect(replay).toMatchObject({ status: 202, body: { replayed: 1 } });
    await waitFor(() => receivedUuids(receiver).has(event!.uuid));
    await waitFor(() => runtime.store.pendingRetries().length === 0);

    // A plain Error from onEvent is recorded, not retried.
    status = 400;
    const before = receiver.received.length;
    await post(url, events(1, 'refused'));
    await waitFor(() => receiver.received.length === before + 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.received.length).toBe(before + 1);
    expect(runtime.store.pendingRetries()).toEqual([]);
  });
});

describe('dead letters', () => {
  it('are re-driven in bulk by plugin, time range or all (POST /api/dead-letters/replay), never by an empty filter', async () => {
    let status = 400;
    const receiver = await startReceiver(() => status);
    cleanup.push(() => receiver.close());
    const dir = await project([{ name: 'exporter', config: { url: `${receiver.url}/in` } }]);
    const { url, runtime } = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
    cleanup.push(() => runtime.close());
    const sent = events(3);
    for (const event of sent) {
      await post(url, [event]);
      await runtime.flushExports();
    }
    expect(runtime.store.deadLetters().map((d) => d.code)).toEqual(['ERR_EXPORT_FAILED', 'ERR_EXPORT_FAILED', 'ERR_EXPORT_FAILED']);

    expect(await postJson(`${url}/api/dead-letters/replay`, {})).toMatchObject({ status: 400, body: { error: { code: 'ERR_BAD_REQUEST' } } });
    expect(await postJson(`${url}/api/dead-letters/replay`, { from: 'not a date' })).toMatchObject({ status: 400 });
    expect(await postJson(`${url}/api/dead-letters/replay`, { plugin: 'exporter', color: 'red' })).toMatchObject({ status: 400 });
    // A time range that covers none of them.
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(await postJson(`${url}/api/dead-letters/replay`, { from: future })).toMatchObject({ status: 202, body: { replayed: 0 } });
    expect((await getJson<{ deadLetters: unknown[] }>(`${url}/api/dead-letters?from=${encodeURIComponent(future)}`)).deadLetters).toEqual([]);
    expect((await getJson<{ deadLetters: unknown[] }>(`${url}/api/dead-letters?plugin=exporter`)).deadLetters).toHaveLength(3);

    status = 200;
    const byPlugin = await postJson(`${url}/api/dead-letters/replay`, { plugin: 'exporter', to: future });
    expect(byPlugin).toMatchObject({ status: 202, body: { replayed: 3 } });
    await waitFor(() => sent.every((event) => receivedUuids(receiver).has(event.uuid)));
    await waitFor(() => runtime.store.pendingBatches().length === 0);
    expect(runtime.store.deadLetters()).toEqual([]);
    expect(await postJson(`${url}/api/dead-letters/replay`, { all: true })).toMatchObject({ status: 202, body: { replayed: 0 } });
    const metrics = await (await fetch(`${url}/metrics`, authorized)).text();
    expect(metrics).toMatch(/plugline_dead_letters_replayed_total\{plugin="exporter",trigger="api"\} 3/);
  });

  it('with redriveOnRecovery, go back to the queue once an export of that plugin succeeds again; without it, they stay', async () => {
    for (const redrive of [true, false]) {
      let status = 503;
      const receiver = await startReceiver(() => status);
      cleanup.push(() => receiver.close());
      const dir = await project([{ name: 'exporter', config: { url: `${receiver.url}/in` }, settings: { exportMaxAttempts: 2, exportRedriveOnRecovery: redrive } }]);
      const { url, runtime } = await startRuntime({ dir, adminToken, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
      cleanup.push(() => runtime.close());
      const [lost] = events(1, 'lost');
      await post(url, [lost!]);
      await waitFor(() => runtime.store.deadLetters().length === 1);
      expect(runtime.store.deadLetters()[0]).toMatchObject({ code: 'ERR_EXPORT_RETRY_EXHAUSTED', attempts: 2 });

      status = 200;
      const [later] = events(1, 'later');
      await post(url, [later!]);
      await waitFor(() => receivedUuids(receiver).has(later!.uuid));
      if (redrive) {
        await waitFor(() => receivedUuids(receiver).has(lost!.uuid));
        await waitFor(() => runtime.store.deadLetters().length === 0);
      } else {
        await runtime.flushExports();
        expect(receivedUuids(receiver).has(lost!.uuid)).toBe(false);
        expect(runtime.store.deadLetters()).toHaveLength(1);
      }
    }
  });
});

describe('host resources', () => {
  it('a Redis server that is not there: its connection errors are counted and logged, the runtime keeps serving', async () => {
    const dir = await project([]);
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    // Port 1 on loopback: nothing listens, every connection attempt is refused.
    const { url, runtime } = await startRuntime({ dir, adminToken, port: 0, logger, schedule: false, redisUrl: 'redis://127.0.0.1:1', redisKeyPrefix: `plugline-delivery-${randomUUID()}` });
    cleanup.push(() => runtime.close());
    await waitFor(async () => /plugline_host_errors_total\{resource="redis"\} [1-9]/.test(await (await fetch(`${url}/metrics`, authorized)).text()));
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(lines.some((line) => line.includes('"resource":"redis"') && line.includes('ECONNREFUSED'))).toBe(true);
  });
});

describe('the process guard of plugline-runtime', () => {
  it('logs and counts an exception thrown from a timer and an unhandled rejection, and the process keeps running', () => {
    const script = `
      import { pino } from 'pino';
      import { installProcessGuard } from ${JSON.stringify(join(packageDir, 'dist', 'process-guard.js'))};
      const counts = {};
      const guard = installProcessGuard(pino({ name: 'guard-test' }));
      guard.attach({ inc: ({ kind }) => { counts[kind] = (counts[kind] ?? 0) + 1; } });
      setTimeout(() => { throw new Error('escaped from a timer'); }, 1);
      Promise.reject(new Error('nobody awaited this'));
      setTimeout(() => process.stdout.write(JSON.stringify({ alive: true, counts }) + '\\n'), 100);
    `;
    const ran = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: packageDir, encoding: 'utf8', timeout: 10_000 });
    expect(ran.status).toBe(0);
    const lines = ran.stdout.trim().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toEqual({ alive: true, counts: { exception: 1, rejection: 1 } });
    const logged = lines.slice(0, -1).map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string } });
    expect(logged).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 60, msg: expect.stringContaining('uncaught exception'), err: expect.objectContaining({ message: 'escaped from a timer' }) }),
        expect.objectContaining({ level: 50, msg: expect.stringContaining('unhandled promise rejection'), err: expect.objectContaining({ message: 'nobody awaited this' }) }),
      ]),
    );
  });
});
