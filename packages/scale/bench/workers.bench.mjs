// Benchmark (not a test): throughput of the JetStream event queue with 1, 2 and 4 worker processes.
// Each worker is bench/sink-worker.mjs: it consumes, appends each batch to a Redis list (the shared sink)
// and returns, so the queue acks. Build first (npx turbo run build --filter=@plugline/scale), then:
//   node packages/scale/bench/workers.bench.mjs
// Env: PLUGLINE_NATS_URL (nats://127.0.0.1:4222), REDIS_URL (redis://127.0.0.1:6379),
//      BENCH_EVENTS (50000), BENCH_PEOPLE (1000), BENCH_PARTITIONS (16), BENCH_WORKERS (1,2,4).
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { createNatsEventQueue } from '../dist/index.js';

const natsUrl = process.env.PLUGLINE_NATS_URL ?? 'nats://127.0.0.1:4222';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const total = Number(process.env.BENCH_EVENTS ?? 50_000);
const people = Number(process.env.BENCH_PEOPLE ?? 1_000);
const partitions = Number(process.env.BENCH_PARTITIONS ?? 16);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const workerScript = fileURLToPath(new URL('./sink-worker.mjs', import.meta.url));

function makeEvents() {
  const events = [];
  const perPerson = Math.ceil(total / people);
  for (let seq = 0; seq < perPerson && events.length < total; seq++) {
    for (let person = 0; person < people && events.length < total; person++) {
      events.push({
        uuid: randomUUID(),
        event: '$pageview',
        distinct_id: `person-${person}`,
        properties: { seq, $current_url: 'https://example.com/pricing', $browser: 'Firefox' },
        timestamp: new Date().toISOString(),
      });
    }
  }
  return events;
}

function startWorker(config) {
  const child = spawn(process.execPath, [workerScript, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      if (chunk.toString().includes('ready')) resolve();
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

const redis = new Redis(redisUrl);
const results = [];
for (const workers of workerCounts) results.push(await run(workers, redis));
await redis.quit();

console.log(
  `JetStream queue -> Redis sink, ${total} events, ${people} people, ${partitions} partitions, ` +
    `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`,
);
console.table(results);
console.log(JSON.stringify({ benchmark: 'scale-workers', partitions, results }));
