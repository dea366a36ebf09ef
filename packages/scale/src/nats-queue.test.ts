import { randomBytes, randomUUID } from 'node:crypto';
import { type PluginEvent, PluglineError } from '@plugline/sdk';
import { AckPolicy, connect, DeliverPolicy, type NatsConnection, nanos } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsEventQueue, type EventQueue, type NatsEventQueueOptions } from './nats-queue.js';
import { partitionOf } from './partition.js';

const natsUrl = process.env.PLUGLINE_NATS_URL;
if (!natsUrl) {
  // biome-ignore lint/suspicious/noConsole: tells whoever runs the suite why it was skipped
  console.warn('[@plugline/scale] PLUGLINE_NATS_URL is not set: skipping the NATS JetStream queue tests');
}

/** `people` people with `perPerson` events each, interleaved, `properties.seq` counting per person. */
function makeEvents(people: number, perPerson: number, tag = 'e'): PluginEvent[] {
  const events: PluginEvent[] = [];
  for (let seq = 0; seq < perPerson; seq++) {
    for (let person = 0; person < people; person++) {
      events.push({
        uuid: randomUUID(),
        event: tag,
        distinct_id: `${tag}-person-${person}`,
        properties: { seq },
        timestamp: new Date().toISOString(),
      });
    }
  }
  return events;
}

/** The `seq`s each person's events were seen in. */
function sequencesByPerson(events: readonly PluginEvent[]): Map<string, number[]> {
  const byPerson = new Map<string, number[]>();
  for (const event of events) {
    const list = byPerson.get(event.distinct_id) ?? [];
    list.push(event.properties.seq as number);
    byPerson.set(event.distinct_id, list);
  }
  return byPerson;
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!natsUrl)('NATS JetStream event queue (PLUGLINE_NATS_URL)', () => {
  let admin: NatsConnection;
  const streams: string[] = [];
  const queues: EventQueue[] = [];

  /** Queue options with a stream and subjects of this test's own, deleted in afterAll. */
  function uniqueOptions(overrides: Partial<NatsEventQueueOptions> = {}): NatsEventQueueOptions {
    const id = randomBytes(6).toString('hex');
    const stream = `PLUGLINE_TEST_${id}`;
    streams.push(stream, `${stream}_DLQ`);
    return { url: natsUrl!, stream, subjectPrefix: `plugline-test.${id}`, ...overrides };
  }

  async function open(options: NatsEventQueueOptions): Promise<EventQueue> {
    const queue = await createNatsEventQueue(options);
    queues.push(queue);
    return queue;
  }

  beforeAll(async () => {
    admin = await connect({ servers: natsUrl! });
  });

  afterAll(async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    const jsm = await admin.jetstreamManager();
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => false);
    await admin.close();
  });

  it('keeps each distinct_id in order with two consumers sharing the work, each event once', async () => {
    const options = uniqueOptions();
    // Two workers: two connections, the same durable consumer group; both create the stream at once.
    const [worker1, worker2] = await Promise.all([open(options), open(options)]);
    const events = makeEvents(40, 25);
    await worker1.publish(events);

    const seen: PluginEvent[] = [];
    const perWorker = [0, 0];
    const handler = (index: number) => async (batch: PluginEvent[]) => {
      await sleep(Math.random() * 3); // uneven speed, as real stores have
      seen.push(...batch);
      perWorker[index]! += batch.length;
    };
    const consumers = await Promise.all([
      worker1!.consume({ durable: 'workers', handler: handler(0) }),
      worker2!.consume({ durable: 'workers', handler: handler(1) }),
    ]);
    await waitFor(() => seen.length >= events.length, 30_000, 'all events');
    await Promise.all(consumers.map((consumer) => consumer.stop()));

    expect(seen.length).toBe(events.length);
    expect(new Set(seen.map((event) => event.uuid)).size).toBe(events.length);
    const expected = Array.from({ length: 25 }, (_, seq) => seq);
    for (const [, sequence] of sequencesByPerson(seen)) expect(sequence).toEqual(expected);
    expect(perWorker[0]).toBeGreaterThan(0);
    expect(perWorker[1]).toBeGreaterThan(0);
  });

  it('redelivers an event whose handler failed, with the person order kept', async () => {
    const options = uniqueOptions({ retryDelayMs: 100 });
    const queue = await open(options);
    const events = makeEvents(8, 10);
    const flaky = events.find((event) => event.properties.seq === 3)!;
    await queue.publish(events);

    const stored: PluginEvent[] = [];
    let flakyCalls = 0;
    const consumer = await queue.consume({
      durable: 'flaky',
      handler: async (batch) => {
        if (batch.some((event) => event.uuid === flaky.uuid) && ++flakyCalls <= 2) {
          throw new Error('database unavailable'); // nothing of this batch is stored
        }
        stored.push(...batch);
      },
    });
    await waitFor(() => stored.length >= events.length, 20_000, 'all events');
    await consumer.stop();

    expect(flakyCalls).toBeGreaterThanOrEqual(3);
    expect(stored.filter((event) => event.uuid === flaky.uuid)).toHaveLength(1);
    expect(new Set(stored.map((event) => event.uuid)).size).toBe(events.length);
    const expected = Array.from({ length: 10 }, (_, seq) => seq);
    for (const [, sequence] of sequencesByPerson(stored)) expect(sequence).toEqual(expected);
    expect(await queue.deadLetters()).toEqual([]);
  });

  it('dead-letters an event after maxDeliver failed deliveries, and unusable messages at once', async () => {
    const options = uniqueOptions({ maxDeliver: 3, retryDelayMs: 50 });
    const queue = await open(options);
    const events = makeEvents(5, 3, 'dl');
    const poison = events.find((event) => event.distinct_id === 'dl-person-2' && event.properties.seq === 1)!;
    poison.properties.poison = true;
    await queue.publish(events);
    // Someone publishes garbage straight onto a partition subject.
    admin.publish(`${options.subjectPrefix}.${partitionOf('anyone', 16)}`, new TextEncoder().encode('{not json'));
    await admin.flush();

    const stored: PluginEvent[] = [];
    let poisonCalls = 0;
    const consumer = await queue.consume({
      durable: 'dl',
      handler: async (batch) => {
        if (batch.some((event) => event.properties.poison === true)) {
          poisonCalls++;
          throw new Error('cannot store a poison event');
        }
        stored.push(...batch);
      },
    });
    await waitFor(() => stored.length >= events.length - 1, 20_000, 'the good events');
    await waitFor(async () => (await queue.deadLetters()).length >= 2, 10_000, 'two dead letters');
    await consumer.stop();

    const letters = await queue.deadLetters();
    expect(letters).toHaveLength(2);
    const poisonLetter = letters.find((letter) => letter.event?.uuid === poison.uuid)!;
    expect(poisonLetter.deliveries).toBe(3);
    expect(poisonLetter.reason).toMatch(/handler failed on delivery 3: cannot store a poison event/);
    expect(poisonLetter.subject).toBe(`${options.subjectPrefix}.${partitionOf('dl-person-2', 16)}`);
    expect(poisonLetter.consumer).toBe(`dl-p${partitionOf('dl-person-2', 16)}`);
    expect(poisonLetter.streamSequence).toBeGreaterThan(0);
    expect(poisonCalls).toBeGreaterThanOrEqual(3);
    const garbage = letters.find((letter) => letter.event === null)!;
    expect(garbage.raw).toBe('{not json');
    expect(garbage.reason).toMatch(/not JSON/);
    expect(garbage.deliveries).toBe(1);

    // The person's next event waited until the poison event left the partition, then went through.
    expect(sequencesByPerson(stored).get('dl-person-2')).toEqual([0, 2]);
    expect(stored.some((event) => event.uuid === poison.uuid)).toBe(false);
    expect(stored).toHaveLength(events.length - 1);
  });

  it('fails a hung handler call after handlerTimeoutMs and redelivers its event', async () => {
    const queue = await open(uniqueOptions({ handlerTimeoutMs: 300, retryDelayMs: 50 }));
    const events = makeEvents(4, 5, 'hang');
    const stuck = events.find((event) => event.distinct_id === 'hang-person-1' && event.properties.seq === 2)!;
    await queue.publish(events);

    const stored: PluginEvent[] = [];
    let hung = false;
    const consumer = await queue.consume({
      durable: 'hang',
      handler: (batch) => {
        if (!hung && batch.some((event) => event.uuid === stuck.uuid)) {
          hung = true;
          return new Promise<void>(() => {}); // never settles
        }
        stored.push(...batch);
        return Promise.resolve();
      },
    });
    await waitFor(() => stored.length >= events.length, 20_000, 'all events');
    await consumer.stop(); // does not wait for the hung call

    expect(hung).toBe(true);
    expect(stored.filter((event) => event.uuid === stuck.uuid)).toHaveLength(1);
    expect(new Set(stored.map((event) => event.uuid)).size).toBe(events.length);
    for (const [, sequence] of sequencesByPerson(stored)) expect(sequence).toEqual([0, 1, 2, 3, 4]);
  });

  it('dead-letters, without calling the handler, an event whose workers crashed maxDeliver times', async () => {
    const options = uniqueOptions({ maxDeliver: 2, ackWaitMs: 300 });
    const queue = await open(options);
    const [first, second] = makeEvents(1, 2, 'crashloop');
    await queue.publish([first!, second!]);

    // Two "workers" take the first event and die without acking: raw pulls on the partition consumer.
    const partition = partitionOf(first!.distinct_id, 16);
    const consumerName = `crashloop-p${partition}`;
    const jsm = await admin.jetstreamManager();
    await jsm.consumers.add(options.stream!, {
      durable_name: consumerName,
      filter_subject: `${options.subjectPrefix}.${partition}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(300),
      max_ack_pending: 1,
      max_deliver: -1,
    });
    const raw = await admin.jetstream().consumers.get(options.stream!, consumerName);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const msg = await raw.next({ expires: 2_000 });
      expect(msg?.seq).toBe(1);
      expect(msg?.info.redeliveryCount).toBe(attempt);
      await sleep(400); // past ackWait: the server takes it back
    }

    const stored: PluginEvent[] = [];
    const consumer = await queue.consume({ durable: 'crashloop', handler: async (batch) => void stored.push(...batch) });
    await waitFor(() => stored.length >= 1, 10_000, 'the second event');
    await consumer.stop();

    expect(stored.map((event) => event.uuid)).toEqual([second!.uuid]);
    const letters = await queue.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.event?.uuid).toBe(first!.uuid);
    expect(letters[0]!.deliveries).toBe(3);
    expect(letters[0]!.reason).toMatch(/delivered 2 times without an ack/);
  });

  it('rejects invalid events with ERR_PAYLOAD_INVALID and publishes none of the batch', async () => {
    const options = uniqueOptions();
    const queue = await open(options);
    const [good] = makeEvents(1, 1);
    const bad = { ...good!, uuid: randomUUID(), distinct_id: '' };
    const error = await queue.publish([good!, bad, 42 as unknown as PluginEvent]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluglineError);
    expect((error as PluglineError).code).toBe('ERR_PAYLOAD_INVALID');
    expect((error as PluglineError).details).toEqual([
      'events[1].distinct_id must be a non-empty string',
      'events[2] is not an object',
    ]);
    const jsm = await admin.jetstreamManager();
    expect((await jsm.streams.info(options.stream!)).state.messages).toBe(0);
  });

  it('stores a re-published event once (uuid as JetStream message id)', async () => {
    const options = uniqueOptions();
    const queue = await open(options);
    const events = makeEvents(3, 2);
    await queue.publish(events);
    await queue.publish(events);
    const jsm = await admin.jetstreamManager();
    expect((await jsm.streams.info(options.stream!)).state.messages).toBe(events.length);
  });

  it('rejects bad options with ERR_BAD_REQUEST', async () => {
    const queue = await open(uniqueOptions());
    const handler = async () => {};
    await expect(queue.consume({ durable: 'has.dot', handler })).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' });
    await expect(queue.consume({ durable: 'ok', batchSize: 0, handler })).rejects.toMatchObject({
      code: 'ERR_BAD_REQUEST',
    });
    await expect(createNatsEventQueue({ ...uniqueOptions(), partitions: 0 })).rejects.toMatchObject({
      code: 'ERR_BAD_REQUEST',
    });
    await expect(
      createNatsEventQueue({ ...uniqueOptions({ subjectPrefix: 'a.b' }), dlqSubject: 'a.b.dead' }),
    ).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' });
  });
});
