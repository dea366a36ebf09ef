// A runtime-like worker process for the crash test and the benchmark: consumes the JetStream event queue
// and "stores" each batch by appending it to a Redis list (the shared sink), then returns so the queue acks.
// Usage: node sink-worker.mjs '<json config>'  (see `config` below). Prints "ready" once connected; with
// `waitForGo` it starts consuming only after reading a line on stdin. SIGTERM stops it gracefully.
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { createNatsEventQueue } from '../dist/index.js';

/** @type {{ natsUrl: string, stream: string, subjectPrefix: string, partitions?: number, durable: string,
 *   ackWaitMs?: number, batchSize?: number, redisUrl: string, sinkKey: string, workerId: string,
 *   holdMs?: number, waitForGo?: boolean, killPoint?: { sinkLength: number, holdMs: number } }} */
const config = JSON.parse(process.argv[2] ?? '{}');

const redis = new Redis(config.redisUrl);
const queue = await createNatsEventQueue({
  url: config.natsUrl,
  stream: config.stream,
  subjectPrefix: config.subjectPrefix,
  partitions: config.partitions,
  ackWaitMs: config.ackWaitMs,
  onError: (error) => process.stderr.write(`[${config.workerId}] ${error}\n`),
});
process.stdout.write('ready\n');

if (config.waitForGo) {
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once('line', resolve));
  lines.close();
}

const consumer = await queue.consume({
  durable: config.durable,
  batchSize: config.batchSize,
  handler: async (events) => {
    const sinkLength = await redis.rpush(
      config.sinkKey,
      ...events.map((event) =>
        JSON.stringify({ u: event.uuid, d: event.distinct_id, s: event.properties.seq, w: config.workerId }),
      ),
    );
    // Stored but not yet acked: a kill now must lead to a redelivery, never to a loss. Past the kill point
    // the worker says so and holds the batch long enough for the test to kill it right there.
    let holdMs = config.holdMs ?? 0;
    if (config.killPoint && sinkLength >= config.killPoint.sinkLength) {
      process.stdout.write(`stored ${events.length}\n`);
      holdMs = config.killPoint.holdMs;
    }
    if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
  },
});
process.stdout.write('consuming\n');

process.once('SIGTERM', async () => {
  await consumer.stop();
  await queue.close();
  await redis.quit();
  process.exit(0);
});
