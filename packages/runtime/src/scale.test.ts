// Scale-out (issue 10): runtime workers on NATS JetStream sharing one store, plugin state in Redis.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin } from './project.js';
import { startRuntime } from './server.js';
import { leaseMsFromEnv, sourceFromEnv } from './source.js';
import { adminFetch, startTestRegistry, testAdminToken } from './test/helpers.js';
import { StoreLeases } from './state-leases.js';

const natsUrl = process.env.PLUGLINE_NATS_URL;
const redisUrl = process.env.REDIS_URL;
if (!natsUrl || !redisUrl) {
  // biome-ignore lint/suspicious/noConsole: tells whoever runs the suite why it was skipped
  console.warn('[@plugline/runtime] PLUGLINE_NATS_URL or REDIS_URL is not set: skipping the scale-out tests (NATS workers, Redis state)');
}

const mainScript = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const silent = pino({ level: 'silent' });

const plugins = [
  {
    // Light on purpose: 50,000 events must cross the sandbox quickly on 2 shared cores.
    name: 'worker-stamp',
    config: { type: 'object' as const, properties: { worker: { type: 'string' as const } }, required: ['worker'] },
    code: `export default { processEvent(e, { config }) { e.properties.worker = config.worker; return e; } };`,
  },
  {
    name: 'shared-counter',
    config: { type: 'object' as const, properties: { worker: { type: 'string' as const } }, required: ['worker'] },
    code: `export default { async processEvent(e, { config, cache, storage, utils }) {
      e.properties.n = await cache.incr('seen');
      e.properties.cursor = await utils.cursor.increment('cursor');
      await storage.set('last_' + config.worker, e.uuid);
      e.properties.peer_last = await storage.get(config.worker === 'a' ? 'last_b' : 'last_a');
      await cache.lpush('order', config.worker);
      return e;
    } };`,
  },
];

describe('runtimes sharing one data directory (no NATS needed)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it('export batches and PostHog jobs run once across them, and a scheduled period is claimed once', async () => {
    const registry = await startTestRegistry([
      {
        name: 'shared-exporter',
        config: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
        code: `
          export const jobs = { async ping(payload, { config }) { await fetch(config.url + '/job', { method: 'POST', body: JSON.stringify([payload.uuid]) }); } };
          export async function processEvent(e, { jobs }) { if (e.properties.job) await jobs.ping({ uuid: e.uuid }).runNow(); return e; }
          export async function exportEvents(events, { config }) {
            await fetch(config.url + '/export', { method: 'POST', body: JSON.stringify(events.map((e) => e.uuid)) });
          }`,
      },
    ]);
    cleanup.push(() => registry.close());
    // A slow receiver widens the window in which two runtimes could pick the same batch.
    const received: Record<string, string[]> = { '/export': [], '/job': [] };
    const receiver = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      await new Promise((resolve) => setTimeout(resolve, 30));
      received[req.url ?? '']?.push(...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[]));
      res.end('ok');
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => receiver.close(resolve)));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    const dataDir = await mkdtemp(join(tmpdir(), 'plugline-shared-data-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const start = async () => {
      const dir = await mkdtemp(join(tmpdir(), 'plugline-shared-project-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      await addPlugin(dir, { name: 'shared-exporter', spec: '1.0.0', config: { url }, registryUrl: registry.url, grants: [`net:${new URL(url).host}`] });
      const running = await startRuntime({ dir, dataDir, port: 0, logger: silent, schedule: false, exportTickMs: 10, exports: { maxEvents: 5, maxAgeMs: 20 } });
      cleanup.push(() => running.close());
      return running;
    };
    const [a, b] = await Promise.all([start(), start()]);
    const uuids: string[] = [];
    const jobUuids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const events = Array.from({ length: 3 }, (_, k) => {
        const uuid = randomUUID();
        uuids.push(uuid);
        const job = k === 0 && i % 2 === 0;
        if (job) jobUuids.push(uuid);
        return { uuid, event: 'e', distinct_id: `p${i}`, properties: { job }, timestamp: new Date().toISOString() };
      });
      await (i % 2 === 0 ? a : b).runtime.ingest(events);
    }
    for (let i = 0; i < 400; i++) {
      const idle = a.runtime.store.pendingBatches().length === 0 && a.runtime.store.bufferStats('shared-exporter').count === 0 && a.runtime.store.dueJobs('shared-exporter').length === 0;
      if (idle && received['/export']!.length >= uuids.length && received['/job']!.length >= jobUuids.length) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // a second copy would show up now
    expect([...received['/export']!].sort()).toEqual([...uuids].sort());
    expect([...received['/job']!].sort()).toEqual([...jobUuids].sort());

    // The primitive behind scheduled hooks: one claim per key across runtimes; released or expired keys are free again.
    const leasesA = new StoreLeases(dataDir);
    const leasesB = new StoreLeases(dataDir);
    cleanup.push(async () => {
      leasesA.close();
      leasesB.close();
    });
    expect(leasesA.claim('schedule:runEveryMinute:1', 60_000, 1_000)).toBe(true);
    expect(leasesB.claim('schedule:runEveryMinute:1', 60_000, 2_000)).toBe(false);
    expect(leasesB.claim('schedule:runEveryMinute:1', 60_000, 61_000)).toBe(true); // expired
    leasesA.release('schedule:runEveryMinute:1'); // not A's any more: no effect
    expect(leasesA.claim('schedule:runEveryMinute:1', 60_000, 62_000)).toBe(false);
    leasesB.release('schedule:runEveryMinute:1');
    expect(leasesA.claim('schedule:runEveryMinute:1', 60_000, 62_000)).toBe(true);
  });
});

describe('the runtime source flags', () => {
  it('reads PLUGLINE_LEASE_MS, rejecting what is not a whole number of at least 100 ms', () => {
    expect(leaseMsFromEnv({})).toBeUndefined();
    expect(leaseMsFromEnv({ PLUGLINE_LEASE_MS: '2000' })).toBe(2000);
    for (const bad of ['abc', '50', '1.5', '-1']) expect(() => leaseMsFromEnv({ PLUGLINE_LEASE_MS: bad })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });
  it('reads --source nats, --worker and the env, and rejects bad usage with ERR_USAGE', () => {
    expect(sourceFromEnv({}, [])).toEqual({ kind: 'inline' });
    expect(sourceFromEnv({ PLUGLINE_NATS_URL: 'nats://x:4222', PLUGLINE_NATS_PARTITIONS: '64' }, ['--source', 'nats', '--worker'])).toEqual({
      kind: 'nats',
      url: 'nats://x:4222',
      role: 'worker',
      partitions: 64,
    });
    expect(sourceFromEnv({ PLUGLINE_SOURCE: 'nats', PLUGLINE_NATS_URL: 'nats://x:4222', PLUGLINE_ROLE: 'capture' }, [])).toMatchObject({ kind: 'nats', role: 'capture' });
    for (const [env, argv] of [
      [{}, ['--source', 'nats']],
      [{}, ['--source', 'kafka']],
      [{}, ['--worker']],
      [{}, ['--sauce', 'nats']],
      [{ PLUGLINE_NATS_URL: 'nats://x' }, ['--source', 'nats', '--worker', '--nats-url']],
      [{ PLUGLINE_SOURCE: 'nats', PLUGLINE_NATS_URL: 'nats://x', PLUGLINE_NATS_PARTITIONS: '0' }, []],
      [{ PLUGLINE_SOURCE: 'nats', PLUGLINE_NATS_URL: 'nats://x', PLUGLINE_ROLE: 'boss' }, []],
    ] as [Record<string, string>, string[]][]) {
      expect(() => sourceFromEnv(env, argv), JSON.stringify([env, argv])).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
  });
});

describe.skipIf(!natsUrl || !redisUrl)('scale-out: NATS workers and Redis state (PLUGLINE_NATS_URL, REDIS_URL)', () => {
  const id = randomBytes(5).toString('hex');
  const stream = `PLUGLINE_RT_TEST_${id}`;
  const subjectPrefix = `plugline-rt-test.${id}`;
  const redisKeyPrefix = `plugline-rt-test-${id}`;
  const children = new Set<ChildProcess>();
  const cleanup: (() => Promise<unknown>)[] = [];
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;

  async function tempDir(prefix: string) {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A runtime project directory with one plugin, configured for `worker`. */
  async function project(plugin: string, worker: string) {
    const dir = await tempDir('plugline-scale-project-');
    await addPlugin(dir, { name: plugin, spec: '1.0.0', config: { worker }, registryUrl: registry.url });
    return dir;
  }

  const workerUrls = new Map<ChildProcess, string>();

  /** A real `plugline-runtime --source nats --worker` process; resolves once it consumes. */
  function startWorker(dir: string, env: Record<string, string>): Promise<ChildProcess> {
    const child = spawn(process.execPath, [mainScript, '--source', 'nats', '--worker'], {
      env: { ...process.env, PLUGLINE_RUNTIME_DIR: dir, PLUGLINE_RUNTIME_PORT: '0', PLUGLINE_RUNTIME_ADMIN_TOKEN: testAdminToken, LOG_LEVEL: 'info', PLUGLINE_NATS_URL: natsUrl, REDIS_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    return new Promise((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const listening = /"url":"(http:[^"]+)"[^\n]*plugline runtime listening/.exec(output);
        if (listening) {
          workerUrls.set(child, listening[1]!);
          resolve(child);
        }
      });
      child.once('exit', (code) => reject(new Error(`worker exited early with code ${code}: ${output.slice(-2000)} ${stderr.slice(-2000)}`)));
    });
  }

  beforeAll(async () => {
    if (!existsSync(mainScript)) throw new Error('packages/runtime/dist/main.js is missing: build @plugline/runtime first (npx turbo run build --filter=@plugline/runtime)');
    registry = await startTestRegistry(plugins);
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await registry?.close();
    const nc = await connect({ servers: natsUrl });
    const jsm = await nc.jetstreamManager();
    for (const name of [stream, `${stream}_DLQ`, `${stream}_S`, `${stream}_S_DLQ`]) await jsm.streams.delete(name).catch(() => undefined);
    await nc.close();
    const redis = new Redis(redisUrl!);
    const keys = await redis.keys(`${redisKeyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it(
    '50,000 events through two worker processes, one frozen past ackWait, then SIGKILLed and restarted midway: none lost, none duplicated, per-person order kept',
    async () => {
      const PEOPLE = 1_000;
      const PER_PERSON = 50;
      const TOTAL = PEOPLE * PER_PERSON;
      // Every worker gets its own project directory (config `worker` tells who stored what) and all share
      // one data directory: one SQLite store (WAL, several processes), so the uuid dedupe spans workers.
      const dataDir = await tempDir('plugline-scale-data-');
      const queueEnv = {
        PLUGLINE_DATA_DIR: dataDir,
        PLUGLINE_NATS_STREAM: stream,
        PLUGLINE_NATS_SUBJECT_PREFIX: subjectPrefix,
        PLUGLINE_NATS_PARTITIONS: '64',
        PLUGLINE_NATS_ACK_WAIT_MS: '2000',
      };
      const [dirA, dirB, dirRestarted] = await Promise.all([project('worker-stamp', 'a'), project('worker-stamp', 'b'), project('worker-stamp', 'a-restarted')]);
      const workerA = await startWorker(dirA, queueEnv);
      const workerB = await startWorker(dirB, queueEnv);

      // The capture API, in this process: publishes to the same stream, consumes nothing.
      const capture = await startRuntime({
        dir: await project('worker-stamp', 'capture'),
        dataDir: await tempDir('plugline-scale-capture-'),
        port: 0,
        logger: silent,
        schedule: false,
        adminToken: testAdminToken,
        source: { kind: 'nats', url: natsUrl!, role: 'capture', stream, subjectPrefix, partitions: 64 },
      });
      cleanup.push(() => capture.close());

      const db = new DatabaseSync(join(dataDir, 'runtime.sqlite'));
      cleanup.push(async () => db.close());
      const count = () => Number((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n);

      const started = Date.now();
      // Request k carries event k of every person: one person's events arrive in order, across requests.
      const publishing = (async () => {
        for (let k = 0; k < PER_PERSON; k++) {
          const batch = Array.from({ length: PEOPLE }, (_, p) => ({ uuid: randomUUID(), event: 'tick', distinct_id: `person-${p}`, properties: { k } }));
          const response = await fetch(`${capture.url}/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
          const body = (await response.json()) as Record<string, unknown>;
          if (response.status !== 200 || body.queued !== PEOPLE) throw new Error(`capture answered ${response.status} ${JSON.stringify(body)}`);
        }
      })();

      // At a quarter, freeze worker a past ackWait: the server redelivers what it held to b, which stores it.
      // Thawed, a finishes its stale batches: those events are already stored, so the store skips them.
      const metricOf = async (child: ChildProcess, name: string) =>
        Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await adminFetch(`${workerUrls.get(child)}/metrics`)).text())?.[1] ?? 0);
      while (count() < TOTAL / 4) await new Promise((resolve) => setTimeout(resolve, 20));
      workerA.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      workerA.kill('SIGCONT');
      // Whether a held at least one unacked event at the moment of the freeze depends on timing, so the
      // count is reported, not asserted; the stored-but-unacked case is asserted deterministically in
      // @plugline/scale's workers.test.ts, and every guarantee is asserted on the final store below.
      let zombieDuplicates = 0;
      for (let i = 0; i < 100 && zombieDuplicates === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        zombieDuplicates = await metricOf(workerA, 'plugline_events_duplicate_total');
      }

      // Midway, SIGKILL worker a (it is in the middle of batches: stored, unacked, or neither) and restart it.
      while (count() < TOTAL / 2) await new Promise((resolve) => setTimeout(resolve, 20));
      workerA.kill('SIGKILL');
      await new Promise((resolve) => workerA.once('exit', resolve));
      const storedAtKill = count();
      const restarted = await startWorker(dirRestarted, queueEnv);
      await publishing;
      const published = Date.now();
      while (count() < TOTAL && Date.now() - started < 100_000) await new Promise((resolve) => setTimeout(resolve, 50));
      const done = Date.now();
      // Anything the killed worker held is redelivered after ackWait (2 s): give it time to show up twice.
      await new Promise((resolve) => setTimeout(resolve, 2_500));

      const rows = db
        .prepare("SELECT uuid, distinct_id, json_extract(data, '$.properties.k') AS k, json_extract(data, '$.properties.worker') AS worker FROM events ORDER BY seq")
        .all() as { uuid: string; distinct_id: string; k: number; worker: string }[];
      // Redelivered events that were already stored (the killed worker stored them but had not acked).
      let duplicates = 0;
      for (const child of [workerB, restarted]) duplicates += await metricOf(child, 'plugline_events_duplicate_total');
      // biome-ignore lint/suspicious/noConsole: the measurement the issue asks to report
      console.info(
        `[scale] ${TOTAL} events: published in ${published - started} ms, all stored after ${done - started} ms; killed at ${storedAtKill} stored; ${zombieDuplicates} already stored when the frozen worker finished them, ${duplicates} redelivered after the kill already stored; by worker ${JSON.stringify(
          rows.reduce<Record<string, number>>((acc, row) => {
            acc[row.worker] = (acc[row.worker] ?? 0) + 1;
            return acc;
          }, {}),
        )}`,
      );
      expect(rows.length).toBe(TOTAL); // none lost...
      expect(new Set(rows.map((row) => row.uuid)).size).toBe(TOTAL); // ...none duplicated
      const next = new Map<string, number>();
      let outOfOrder = 0;
      for (const row of rows) {
        if (row.k !== (next.get(row.distinct_id) ?? 0)) outOfOrder += 1;
        next.set(row.distinct_id, row.k + 1);
      }
      expect(outOfOrder).toBe(0);
      expect([...next.values()].every((n) => n === PER_PERSON)).toBe(true);
      const byWorker = new Set(rows.map((row) => row.worker));
      expect(byWorker).toEqual(new Set(['a', 'b', 'a-restarted'])); // all three worker processes stored events
      expect(storedAtKill).toBeLessThan(TOTAL);
      expect((await (await adminFetch(`${capture.url}/api/queue/dead-letters`)).json()) as { count: number }).toMatchObject({ count: 0 });
    },
    150_000,
  );

  it('a runtime with source nats (role both) answers capture once queued, stores from the queue, and shows dead letters', async () => {
    const dir = await project('worker-stamp', 'both');
    const running = await startRuntime({
      dir,
      port: 0,
      logger: silent,
      schedule: false,
      adminToken: testAdminToken,
      source: { kind: 'nats', url: natsUrl!, stream: `${stream}_S`, subjectPrefix: `${subjectPrefix}-s`, partitions: 4 },
    });
    cleanup.push(() => running.close());
    const uuid = randomUUID();
    const response = await fetch(`${running.url}/capture`, { method: 'POST', body: JSON.stringify({ uuid, event: 'signup', distinct_id: 'u1' }) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 1, accepted: 1, queued: 1 });
    for (let i = 0; i < 200 && running.runtime.queryEvents({ distinct_id: 'u1' }).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(running.runtime.queryEvents({ distinct_id: 'u1' })).toMatchObject([{ uuid, event: 'signup', properties: { worker: 'both' } }]);

    // A message that is not an event (another producer's bug) is dead-lettered at once, visible in the API.
    const nc = await connect({ servers: natsUrl });
    await nc.jetstream().publish(`${subjectPrefix}-s.0`, new TextEncoder().encode('not json'));
    await nc.close();
    let letters: { deadLetters: { raw: string; reason: string }[] } = { deadLetters: [] };
    for (let i = 0; i < 200 && letters.deadLetters.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      letters = (await (await adminFetch(`${running.url}/api/queue/dead-letters`)).json()) as typeof letters;
    }
    expect(letters.deadLetters).toMatchObject([{ raw: 'not json' }]);
    const bad = await adminFetch(`${running.url}/api/queue/dead-letters?limit=0`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'ERR_BAD_REQUEST' } });
  });

  it('meta.cache and meta.storage are shared by two runtimes through Redis', async () => {
    const start = async (worker: string) => {
      const running = await startRuntime({ dir: await project('shared-counter', worker), port: 0, logger: silent, schedule: false, redisUrl: redisUrl!, redisKeyPrefix });
      cleanup.push(() => running.close());
      return running;
    };
    const [a, b] = await Promise.all([start('a'), start('b')]);
    const events = (distinct: string) => ({ uuid: randomUUID(), event: 'hit', distinct_id: distinct, properties: {}, timestamp: new Date().toISOString() });
    for (let i = 0; i < 5; i++) {
      await a.runtime.ingest([events('from-a')]);
      await b.runtime.ingest([events('from-b')]);
    }
    const stored = [...a.runtime.queryEvents({ order: 'asc' }), ...b.runtime.queryEvents({ order: 'asc' })];
    // One counter across both workers: 1..10, each value once.
    expect(stored.map((event) => event.properties.n).sort((x, y) => Number(x) - Number(y))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(stored.map((event) => event.properties.cursor).sort((x, y) => Number(x) - Number(y))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Each worker reads what the other one stored.
    const lastA = a.runtime.queryEvents({ order: 'desc', limit: 1 })[0]!;
    const lastB = b.runtime.queryEvents({ order: 'desc', limit: 1 })[0]!;
    expect(lastB.properties.peer_last).toBe(lastA.uuid);
    const redis = new Redis(redisUrl!);
    cleanup.push(() => redis.quit());
    expect(await redis.get(`${redisKeyPrefix}:cache:shared-counter:seen`)).toBe('10');
    expect(await redis.llen(`${redisKeyPrefix}:cache:shared-counter:order`)).toBe(10);
    expect(JSON.parse((await redis.get(`${redisKeyPrefix}:storage:shared-counter:last_b`))!)).toBe(lastB.uuid);
  });
});
