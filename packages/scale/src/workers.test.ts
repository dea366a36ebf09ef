import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PluginEvent } from '@plugline/sdk';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsEventQueue, type EventQueue } from './nats-queue.js';

const natsUrl = process.env.PLUGLINE_NATS_URL;
const redisUrl = process.env.REDIS_URL;
if (!natsUrl || !redisUrl) {
  // biome-ignore lint/suspicious/noConsole: tells whoever runs the suite why it was skipped
  console.warn('[@plugline/scale] PLUGLINE_NATS_URL or REDIS_URL is not set: skipping the worker crash test');
}

// The worker runs the built package, as a deployed runtime worker would.
const workerScript = fileURLToPath(new URL('../bench/sink-worker.mjs', import.meta.url));
const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const PEOPLE = 200;
const PER_PERSON = 30;
const TOTAL = PEOPLE * PER_PERSON;

interface SinkEntry {
  u: string;
  d: string;
  s: number;
  w: string;
}

describe.skipIf(!natsUrl || !redisUrl)('worker processes on the JetStream queue (PLUGLINE_NATS_URL, REDIS_URL)', () => {
  const id = randomBytes(6).toString('hex');
  const stream = `PLUGLINE_TEST_${id}`;
  const subjectPrefix = `plugline-test.${id}`;
  const sinkKey = `plugline-test-sink-${id}`;
  const children = new Set<ChildProcess>();
  let redis: Redis;
  let queue: EventQueue;

  function startWorker(workerId: string, extra: { killPoint?: { sinkLength: number; holdMs: number } } = {}): Promise<ChildProcess> {
    const config = {
      natsUrl,
      redisUrl,
      stream,
      subjectPrefix,
      durable: 'runtime',
      ackWaitMs: 2_000,
      sinkKey,
      workerId,
      holdMs: 3,
      ...extra,
    };
    const child = spawn(process.execPath, [workerScript, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return new Promise((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('consuming\n')) resolve(child);
      });
      child.once('exit', (code) => reject(new Error(`worker ${workerId} exited early with code ${code}`)));
    });
  }

  async function sink(): Promise<SinkEntry[]> {
    return (await redis.lrange(sinkKey, 0, -1)).map((line) => JSON.parse(line) as SinkEntry);
  }

  async function uniqueStored(): Promise<number> {
    return new Set((await sink()).map((entry) => entry.u)).size;
  }

  beforeAll(async () => {
    if (!existsSync(builtEntry)) {
      throw new Error('packages/scale/dist is missing: build @plugline/scale first (npx turbo run build --filter=@plugline/scale)');
    }
    redis = new Redis(redisUrl!);
    queue = await createNatsEventQueue({ url: natsUrl!, stream, subjectPrefix });
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await queue?.close();
    await redis?.del(sinkKey);
    await redis?.quit();
    const nc = await connect({ servers: natsUrl! });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => false);
    await jsm.streams.delete(`${stream}_DLQ`).catch(() => false);
    await nc.close();
  });

  it('loses nothing and keeps per-person order when a worker is SIGKILLed mid-batch and restarted', async () => {
    const events: PluginEvent[] = [];
    for (let seq = 0; seq < PER_PERSON; seq++) {
      for (let person = 0; person < PEOPLE; person++) {
        events.push({
          uuid: randomUUID(),
          event: 'crash-test',
          distinct_id: `person-${person}`,
          properties: { seq },
          timestamp: new Date().toISOString(),
        });
      }
    }
    await queue.publish(events);

    // Once a quarter is stored, the victim says when it stored a batch and holds it 500 ms before it
    // returns (and the queue acks): killing it right then kills it mid-batch, with stored-but-unacked events.
    const [victim, survivor] = await Promise.all([
      startWorker('A', { killPoint: { sinkLength: TOTAL / 4, holdMs: 500 } }),
      startWorker('B'),
    ]);
    await new Promise<void>((resolve) => {
      victim.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('stored')) {
          victim.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((resolve) => victim.once('exit', resolve));
    const storedAtKill = await uniqueStored();
    expect(storedAtKill).toBeLessThan(TOTAL);

    const restarted = await startWorker('A2');
    const until = Date.now() + 40_000;
    while ((await uniqueStored()) < TOTAL) {
      if (Date.now() > until) throw new Error(`only ${await uniqueStored()} of ${TOTAL} events stored in 40 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // Graceful stop of the rest: SIGTERM lets the batch in progress finish and be acked.
    const exits = [survivor, restarted].map((child) => new Promise((resolve) => child.once('exit', resolve)));
    survivor.kill('SIGTERM');
    restarted.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0]);

    // What the runtime's store does: deduplicate by uuid, keeping the first copy.
    const entries = await sink();
    const firstCopies = new Map<string, SinkEntry>();
    for (const entry of entries) if (!firstCopies.has(entry.u)) firstCopies.set(entry.u, entry);
    expect(new Set(firstCopies.keys())).toEqual(new Set(events.map((event) => event.uuid)));

    const orderByPerson = new Map<string, number[]>();
    for (const entry of firstCopies.values()) {
      const list = orderByPerson.get(entry.d) ?? [];
      list.push(entry.s);
      orderByPerson.set(entry.d, list);
    }
    const expected = Array.from({ length: PER_PERSON }, (_, seq) => seq);
    expect(orderByPerson.size).toBe(PEOPLE);
    for (const [, sequence] of orderByPerson) expect(sequence).toEqual(expected);

    // The batch the victim stored but never acked was delivered again and stored a second time.
    expect(entries.length).toBeGreaterThan(TOTAL);
    // Every worker did part of the work, the killed one included.
    const workers = new Set(entries.map((entry) => entry.w));
    expect(workers).toEqual(new Set(['A', 'B', 'A2']));
    expect(await queue.deadLetters()).toEqual([]);
  });
});
