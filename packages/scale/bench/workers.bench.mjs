// Benchmark (not a test): throughput of the JetStream event queue with 1, 2 and 4 worker processes.
// Each worker is bench/sink-worker.mjs: it consumes, appends each batch to a Redis list (the shared sink)
// and returns, so the queue acks. Build first (npx turbo run build --filter=@plugline/scale), then:
//   node packages/scale/bench/workers.bench.mjs
// Env: PLUGLINE_NATS_URL (nats://127.0.0.1:4222), REDIS_URL (redis://127.0.0.1:6379),
//      BENCH_EVENTS (50000), BENCH_PEOPLE (1000), BENCH_PARTITIONS (16), BENCH_WORKERS (1,2,4).
//      BENCH_KILL=1: instead, the crash scenario at full size: two workers, one SIGKILLed mid-batch
//      halfway through and restarted; reports lost, duplicated and out-of-order (after dedupe) events.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { createNatsEventQueue } from '../dist/index.js';
import { makeEvents as makeEventsFor } from './events.mjs';

const natsUrl = process.env.PLUGLINE_NATS_URL ?? 'nats://127.0.0.1:4222';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const total = Number(process.env.BENCH_EVENTS ?? 50_000);
const people = Number(process.env.BENCH_PEOPLE ?? 1_000);
const partitions = Number(process.env.BENCH_PARTITIONS ?? 16);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const workerScript = fileURLToPath(new URL('./sink-worker.mjs', import.meta.url));

function makeEvents() {
  return makeEventsFor(total, people);
}

function startWorker(config) {
  return startWorkerWith(config, 'ready');
}

function startWorkerWith(config, signal) {
  const child = spawn(process.execPath, [workerScript, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      if (chunk.toString().includes(signal)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
  });
  return { child, ready };
}

async function run(workers, redis) {
  const id = randomBytes(6).toString('hex');
  const stream = `PLUGLINE_BENCH_${id}`;
  const subjectPrefix = `plugline-bench.${id}`;
  const sinkKey = `plugline-bench-sink-${id}`;
  const queue = await createNatsEventQueue({ url: natsUrl, stream, subjectPrefix, partitions });
  try {
    const events = makeEvents();
    const publishStart = performance.now();
    for (let i = 0; i < events.length; i += 5_000) await queue.publish(events.slice(i, i + 5_000));
    const publishMs = performance.now() - publishStart;

    const started = Array.from({ length: workers }, (_, index) =>
      startWorker({ natsUrl, redisUrl, stream, subjectPrefix, partitions, durable: 'bench', sinkKey, workerId: `w${index}`, waitForGo: true }),
    );
    await Promise.all(started.map((worker) => worker.ready));
    const consumeStart = performance.now();
    for (const worker of started) worker.child.stdin.write('go\n');
    while ((await redis.llen(sinkKey)) < events.length) await new Promise((resolve) => setTimeout(resolve, 20));
    const consumeMs = performance.now() - consumeStart;

    await Promise.all(
      started.map(({ child }) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        return exited;
      }),
    );

    // Sanity: everything once, each person in order.
    const entries = (await redis.lrange(sinkKey, 0, -1)).map((line) => JSON.parse(line));
    const unique = new Set(entries.map((entry) => entry.u)).size;
    const last = new Map();
    let outOfOrder = 0;
    for (const entry of entries) {
      if ((last.get(entry.d) ?? -1) >= entry.s) outOfOrder++;
      last.set(entry.d, entry.s);
    }
    await redis.del(sinkKey);
    return {
      workers,
      events: events.length,
      publishPerSecond: Math.round(events.length / (publishMs / 1_000)),
      consumeSeconds: Number((consumeMs / 1_000).toFixed(2)),
      consumePerSecond: Math.round(events.length / (consumeMs / 1_000)),
      stored: entries.length,
      unique,
      outOfOrder,
    };
  } finally {
    await queue.close();
    const nc = await connect({ servers: natsUrl });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => false);
    await jsm.streams.delete(`${stream}_DLQ`).catch(() => false);
    await nc.close();
  }
}

async function runWithKill(redis) {
  const id = randomBytes(6).toString('hex');
  const stream = `PLUGLINE_BENCH_${id}`;
  const subjectPrefix = `plugline-bench.${id}`;
  const sinkKey = `plugline-bench-sink-${id}`;
  const queue = await createNatsEventQueue({ url: natsUrl, stream, subjectPrefix, partitions });
  const base = { natsUrl, redisUrl, stream, subjectPrefix, partitions, durable: 'bench', sinkKey, ackWaitMs: 2_000 };
  try {
    const events = makeEvents();
    for (let i = 0; i < events.length; i += 5_000) await queue.publish(events.slice(i, i + 5_000));
    const start = performance.now();
    const victim = startWorkerWith({ ...base, workerId: 'A', killPoint: { sinkLength: events.length / 2, holdMs: 500 } }, 'consuming');
    const survivor = startWorkerWith({ ...base, workerId: 'B' }, 'consuming');
    await Promise.all([victim.ready, survivor.ready]);
    await new Promise((resolve) => {
      victim.child.stdout.on('data', (chunk) => {
        if (chunk.toString().includes('stored')) {
          victim.child.kill('SIGKILL');
          resolve();
        }
      });
    });
    const restarted = startWorkerWith({ ...base, workerId: 'A2' }, 'consuming');
    await restarted.ready;
    const uniqueNow = async () => new Set((await redis.lrange(sinkKey, 0, -1)).map((line) => JSON.parse(line).u)).size;
    while ((await uniqueNow()) < events.length) await new Promise((resolve) => setTimeout(resolve, 500));
    const seconds = (performance.now() - start) / 1_000;
    for (const { child } of [survivor, restarted]) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    const entries = (await redis.lrange(sinkKey, 0, -1)).map((line) => JSON.parse(line));
    const first = new Map();
    for (const entry of entries) if (!first.has(entry.u)) first.set(entry.u, entry);
    const last = new Map();
    let outOfOrder = 0;
    for (const entry of first.values()) {
      if ((last.get(entry.d) ?? -1) >= entry.s) outOfOrder++;
      last.set(entry.d, entry.s);
    }
    const byWorker = {};
    for (const entry of entries) byWorker[entry.w] = (byWorker[entry.w] ?? 0) + 1;
    await redis.del(sinkKey);
    return {
      scenario: '2 workers, one SIGKILLed mid-batch at 50% and restarted',
      events: events.length,
      seconds: Number(seconds.toFixed(2)),
      lost: events.filter((event) => !first.has(event.uuid)).length,
      duplicatesBeforeDedupe: entries.length - first.size,
      outOfOrderAfterDedupe: outOfOrder,
      storedByWorker: byWorker,
    };
  } finally {
    await queue.close();
    const nc = await connect({ servers: natsUrl });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => false);
    await jsm.streams.delete(`${stream}_DLQ`).catch(() => false);
    await nc.close();
  }
}

const redis = new Redis(redisUrl);
if (process.env.BENCH_KILL === '1') {
  const result = await runWithKill(redis);
  await redis.quit();
  console.log(JSON.stringify({ benchmark: 'scale-workers-kill', partitions, ...result }, null, 2));
  process.exit(result.lost === 0 && result.outOfOrderAfterDedupe === 0 ? 0 : 1);
}
const results = [];
for (const workers of workerCounts) results.push(await run(workers, redis));
await redis.quit();

console.log(
  `JetStream queue -> Redis sink, ${total} events, ${people} people, ${partitions} partitions, ` +
    `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`,
);
console.table(results);
console.log(JSON.stringify({ benchmark: 'scale-workers', partitions, results }));
