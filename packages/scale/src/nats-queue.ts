import { type PluginEvent, PluglineError } from '@plugline/sdk';
import {
  AckPolicy,
  type ConsumerConfig,
  connect,
  consumerOpts,
  DeliverPolicy,
  headers,
  type JetStreamManager,
  type JsMsg,
  NatsError,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from 'nats';
import { partitionOf } from './partition.js';

/** What a consumer's handler receives and must store before it resolves. */
export type EventBatchHandler = (events: PluginEvent[]) => Promise<void>;

/** Options for {@link EventQueue.consume}. */
export interface ConsumeOptions {
  /**
   * The consumer group's durable name (letters, digits, `-`, `_`). Every worker of one group passes the
   * same name; they then share the work and each event is handled by one of them (at least once).
   */
  durable: string;
  /** Most events per handler call (default 100). At most one event per partition is in flight. */
  batchSize?: number;
  /** Stores the events; the queue acks them only after this resolves. A rejection means "retry later". */
  handler: EventBatchHandler;
}

/** A running consumer. */
export interface ConsumerHandle {
  /**
   * Stops pulling, lets the batch in progress finish (and be acked), and hands back any message that
   * arrives meanwhile (nak without delay) so another worker gets it at once.
   */
  stop(): Promise<void>;
}

/** An event that could not be handled, as kept in the dead-letter stream. */
export interface DeadLetter {
  /** The event, or `null` when the message was not a valid event (then see `raw`). */
  event: PluginEvent | null;
  /** The message body as published. */
  raw: string;
  /** Why it was dead-lettered: the handler's last error message, or why the message was unusable. */
  reason: string;
  /** How many times it was delivered. */
  deliveries: number;
  /** Its sequence number in the event stream. */
  streamSequence: number;
  /** The durable consumer (partition consumer) that gave up on it. */
  consumer: string;
  /** The subject it was published on. */
  subject: string;
  /** When it was dead-lettered (ISO 8601). */
  deadAt: string;
}

/**
 * A durable, partitioned event queue between the capture API and runtime workers. Delivery is
 * at-least-once: an event may reach the handler more than once (after a crash or a failed batch), so
 * whoever stores events must deduplicate by `uuid`.
 */
export interface EventQueue {
  /** Publishes events, each on its `distinct_id`'s partition; resolves when the server has stored all. */
  publish(events: readonly PluginEvent[]): Promise<void>;
  /** Starts consuming as one worker of the `durable` consumer group. */
  consume(options: ConsumeOptions): Promise<ConsumerHandle>;
  /** Reads the dead-letter stream, oldest first. */
  deadLetters(options?: { limit?: number }): Promise<DeadLetter[]>;
  /** Stops every consumer started here and closes the connection (flushing pending acks first). */
  close(): Promise<void>;
}

/** Options for {@link createNatsEventQueue}. */
export interface NatsEventQueueOptions {
  /** NATS server URL, e.g. `nats://127.0.0.1:4222` (JetStream enabled). */
  url: string;
  /** JetStream stream holding the events (default `PLUGLINE_EVENTS`); created or updated on connect. */
  stream?: string;
  /** Subjects are `<subjectPrefix>.<partition>` (default `plugline.events`). */
  subjectPrefix?: string;
  /**
   * How many partitions `distinct_id`s are hashed into (default 16). It bounds parallelism: at most this
   * many events are in flight at once across all workers. Changing it remaps people to partitions, so
   * change it only while the stream is drained.
   */
  partitions?: number;
  /** Deliveries before an event goes to the dead-letter stream (default 5). */
  maxDeliver?: number;
  /** How long a worker may hold an event without acking before it is redelivered (default 30 s). */
  ackWaitMs?: number;
  /** Delay before the first redelivery after a handler failure; doubles per delivery, max 30 s (default 1 s). */
  retryDelayMs?: number;
  /**
   * How long a handler call may take before it counts as failed (default 60 s). The queue keeps the
   * events of a running call from being redelivered (progress acks), so without this a hung handler would
   * hold its partitions forever.
   */
  handlerTimeoutMs?: number;
  /** Subject of dead letters (default `<subjectPrefix>-dead`), kept in the stream `<stream>_DLQ`. */
  dlqSubject?: string;
  /** How long the streams keep events (default 7 days). */
  maxAgeMs?: number;
  /** Called with errors the queue recovers from by itself (a failed pull, a failed dead-letter publish). */
  onError?: (error: unknown) => void;
}

const DURABLE_NAME = /^[A-Za-z0-9_-]+$/;
const PULL_EXPIRES_MS = 1_000;
const MAX_RETRY_DELAY_MS = 30_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Header names on dead-letter messages. */
export const deadLetterHeaders = {
  reason: 'Plugline-Dead-Reason',
  deliveries: 'Plugline-Deliveries',
  streamSequence: 'Plugline-Stream-Seq',
  consumer: 'Plugline-Consumer',
  subject: 'Plugline-Subject',
  deadAt: 'Plugline-Dead-At',
} as const;

/**
 * Connects to NATS JetStream and returns an {@link EventQueue}.
 *
 * - `publish` puts each event on `<subjectPrefix>.<partitionOf(distinct_id)>` with the event `uuid` as
 *   JetStream message id, so a retried publish within the stream's duplicate window stores it once.
 * - `consume` creates (idempotently) one durable pull consumer per partition, named
 *   `<durable>-p<partition>`, with `max_ack_pending: 1`. The server therefore hands out the next event of a
 *   partition only after the previous one was acked, to whichever worker asks: per-`distinct_id` order
 *   holds across any number of workers, crashes and redeliveries. Workers batch across partitions.
 * - Events are acked after the handler resolves. A rejected batch is retried one event at a time (so one
 *   bad event does not hold back the others); an event that still fails is nak'ed with a delay, and on its
 *   `maxDeliver`-th delivery it goes to the dead-letter stream with the error message, then is terminated.
 *   An event delivered more than `maxDeliver` times without ever being acked or nak'ed (its workers kept
 *   crashing) is dead-lettered without calling the handler again.
 *
 * @example
 * ```ts
 * const queue = await createNatsEventQueue({ url: 'nats://127.0.0.1:4222' });
 * await queue.publish(events);
 * const consumer = await queue.consume({ durable: 'runtime', handler: (batch) => store.insert(batch) });
 * // ...
 * await consumer.stop();
 * await queue.close();
 * ```
 */
export async function createNatsEventQueue(options: NatsEventQueueOptions): Promise<EventQueue> {
  const streamName = options.stream ?? 'PLUGLINE_EVENTS';
  const subjectPrefix = options.subjectPrefix ?? 'plugline.events';
  const partitions = options.partitions ?? 16;
  const maxDeliver = options.maxDeliver ?? 5;
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  const retryDelayMs = options.retryDelayMs ?? 1_000;
  const handlerTimeoutMs = options.handlerTimeoutMs ?? 60_000;
  const dlqSubject = options.dlqSubject ?? `${subjectPrefix}-dead`;
  const dlqStreamName = `${streamName}_DLQ`;
  const maxAgeMs = options.maxAgeMs ?? 7 * 24 * 3_600_000;
  const onError = options.onError ?? (() => {});

  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new PluglineError('ERR_BAD_REQUEST', `partitions must be a positive integer, got ${partitions}`);
  }
  if (!Number.isInteger(maxDeliver) || maxDeliver < 1) {
    throw new PluglineError('ERR_BAD_REQUEST', `maxDeliver must be a positive integer, got ${maxDeliver}`);
  }
  if (dlqSubject.startsWith(`${subjectPrefix}.`)) {
    throw new PluglineError('ERR_BAD_REQUEST', `dlqSubject must not be under the event subjects ${subjectPrefix}.>`);
  }

  const nc = await connect({ servers: options.url, name: `plugline-scale:${streamName}` });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  try {
    await ensureStream(jsm, {
      name: streamName,
      subjects: [`${subjectPrefix}.*`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(maxAgeMs),
      duplicate_window: nanos(120_000),
    });
    await ensureStream(jsm, {
      name: dlqStreamName,
      subjects: [dlqSubject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(maxAgeMs),
      duplicate_window: nanos(120_000),
    });
  } catch (error) {
    await nc.close();
    throw error;
  }

  const consumers = new Set<ConsumerHandle>();
  const subjectOf = (event: PluginEvent) => `${subjectPrefix}.${partitionOf(event.distinct_id, partitions)}`;

  async function deadLetter(msg: JsMsg, reason: string, consumerName: string): Promise<void> {
    const h = headers();
    h.set(deadLetterHeaders.reason, reason.replace(/[\r\n]+/g, ' ').slice(0, 1_000));
    h.set(deadLetterHeaders.deliveries, String(msg.info.redeliveryCount));
    h.set(deadLetterHeaders.streamSequence, String(msg.seq));
    h.set(deadLetterHeaders.consumer, consumerName);
    h.set(deadLetterHeaders.subject, msg.subject);
    h.set(deadLetterHeaders.deadAt, new Date().toISOString());
    // The stream sequence as message id: two workers dead-lettering the same message store it once.
    await js.publish(dlqSubject, msg.data, { headers: h, msgID: `${streamName}:${msg.seq}` });
    // Plain +TERM: servers before 2.10.4 ignore a term that carries a reason (the reason is in the DLQ).
    msg.term();
  }

  function retryDelay(deliveries: number): number {
    return Math.min(MAX_RETRY_DELAY_MS, retryDelayMs * 2 ** Math.max(0, deliveries - 1));
  }

  return {
    async publish(events) {
      const problems = events.flatMap((event, index) => eventProblems(event, index));
      if (problems.length > 0) {
        throw new PluglineError('ERR_PAYLOAD_INVALID', `Cannot publish: ${problems.slice(0, 5).join('; ')}`, {
          details: problems,
        });
      }
      // One connection sends in call order, so events of one partition are stored in the order given.
      const acks = events.map((event) =>
        js.publish(subjectOf(event), encoder.encode(JSON.stringify(event)), { msgID: event.uuid }),
      );
      await Promise.all(acks);
    },

    async consume({ durable, batchSize = 100, handler }) {
      if (!DURABLE_NAME.test(durable)) {
        throw new PluglineError('ERR_BAD_REQUEST', `durable must match ${DURABLE_NAME}, got "${durable}"`);
      }
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new PluglineError('ERR_BAD_REQUEST', `batchSize must be a positive integer, got ${batchSize}`);
      }
      const names = Array.from({ length: partitions }, (_, p) => `${durable}-p${p}`);
      await Promise.all(
        names.map((name, p) =>
          ensureConsumer(jsm, streamName, {
            durable_name: name,
            filter_subject: `${subjectPrefix}.${p}`,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            ack_wait: nanos(ackWaitMs),
            // One unacked event per partition: the server's guarantee of per-partition order.
            max_ack_pending: 1,
            // Unlimited: the queue itself dead-letters, so the server never silently skips an event.
            max_deliver: -1,
          }),
        ),
      );
      interface Delivery {
        msg: JsMsg;
        consumerName: string;
      }
      const ready: Delivery[] = [];
      let wakeDispatcher: (() => void) | undefined;
      let stopping = false;
      // When each partition's latest pull request was sent; it is live for PULL_EXPIRES_MS.
      const lastPullAt = new Array<number>(partitions).fill(0);

      // One pull subscription per partition consumer. A pull request is kept waiting at the server at
      // all times, so the next event of a partition arrives as soon as the previous one is acked.
      const subscriptions = await Promise.all(
        names.map(async (name, p) => {
          const opts = consumerOpts();
          opts.bind(streamName, name);
          opts.manualAck();
          opts.callback((error, msg) => {
            if (error) {
              // 404/408/409 only say that a pull request ended without (enough) messages.
              if (!(error instanceof NatsError && /^40[489]$/.test(error.code))) onError(error);
              return;
            }
            if (!msg) return;
            if (stopping) {
              msg.nak(); // hand it straight to another worker
              return;
            }
            ready.push({ msg, consumerName: name });
            pullFor(p);
            wakeDispatcher?.();
          });
          return js.pullSubscribe(`${subjectPrefix}.${p}`, opts);
        }),
      );

      function pullFor(p: number): void {
        if (stopping) return;
        lastPullAt[p] = Date.now();
        subscriptions[p]?.pull({ batch: 1, expires: PULL_EXPIRES_MS });
      }
      function pullWhereExpiring(age: number): void {
        const now = Date.now();
        for (let p = 0; p < partitions; p++) if (now - lastPullAt[p]! >= age) pullFor(p);
      }
      pullWhereExpiring(0);
      const refresher = setInterval(() => pullWhereExpiring(PULL_EXPIRES_MS * 0.8), PULL_EXPIRES_MS / 4);

      /** Handles one batch: never throws; every message ends acked, nak'ed or dead-lettered. */
      async function settle(batch: Delivery[]): Promise<void> {
        const usable: { delivery: Delivery; event: PluginEvent }[] = [];
        for (const delivery of batch) {
          const { msg } = delivery;
          if (msg.info.redeliveryCount > maxDeliver) {
            await deadLetterSafely(
              delivery,
              `delivered ${msg.info.redeliveryCount - 1} times without an ack (workers crashed or exceeded ackWait)`,
            );
            continue;
          }
          const parsed = parseEvent(msg.data);
          if (typeof parsed === 'string') {
            await deadLetterSafely(delivery, parsed);
            continue;
          }
          usable.push({ delivery, event: parsed });
        }
        if (usable.length === 0) return;

        // Keep the events ours while the handler runs longer than ackWait.
        const keepAlive = setInterval(
          () => {
            for (const { delivery } of usable) delivery.msg.working();
          },
          Math.max(100, Math.floor(ackWaitMs / 3)),
        );
        try {
          try {
            await callHandler(usable.map(({ event }) => event));
            for (const { delivery } of usable) delivery.msg.ack();
            return;
          } catch (batchError) {
            // One event, or a hung handler (retrying one by one would hang as often): all failed.
            if (usable.length === 1 || batchError instanceof HandlerTimeoutError) {
              for (const { delivery } of usable) await failed(delivery, batchError);
              return;
            }
          }
          // The batch failed: find the culprit(s) one by one. At most one event per partition is in
          // flight, so handling them one at a time cannot reorder a person's events.
          for (const { delivery, event } of usable) {
            try {
              await callHandler([event]);
              delivery.msg.ack();
            } catch (error) {
              await failed(delivery, error);
            }
          }
        } finally {
          clearInterval(keepAlive);
        }
      }

      /** The handler, failing after handlerTimeoutMs. A late success of a timed-out call is a duplicate. */
      async function callHandler(events: PluginEvent[]): Promise<void> {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HandlerTimeoutError(handlerTimeoutMs)), handlerTimeoutMs);
        });
        try {
          await Promise.race([handler(events), timeout]);
        } finally {
          clearTimeout(timer);
        }
      }

      async function failed(delivery: Delivery, error: unknown): Promise<void> {
        const deliveries = delivery.msg.info.redeliveryCount;
        if (deliveries >= maxDeliver) {
          await deadLetterSafely(delivery, `handler failed on delivery ${deliveries}: ${errorMessage(error)}`);
        } else {
          delivery.msg.nak(retryDelay(deliveries));
        }
      }

      async function deadLetterSafely(delivery: Delivery, reason: string): Promise<void> {
        try {
          await deadLetter(delivery.msg, reason, delivery.consumerName);
        } catch (error) {
          // Not dead-lettered: leave it to be redelivered rather than lose it.
          onError(error);
          delivery.msg.nak(retryDelay(delivery.msg.info.redeliveryCount));
        }
      }

      async function dispatch(): Promise<void> {
        for (;;) {
          if (ready.length === 0) {
            if (stopping) return;
            await new Promise<void>((resolve) => {
              wakeDispatcher = resolve;
            });
            wakeDispatcher = undefined;
            continue;
          }
          // Let messages already on the socket join this batch.
          await new Promise<void>((resolve) => setImmediate(resolve));
          const batch = ready.splice(0, batchSize);
          await settle(batch);
          // A pull request of these partitions may have expired while the handler ran.
          pullWhereExpiring(PULL_EXPIRES_MS / 2);
        }
      }
      const dispatcher = dispatch();

      const handle: ConsumerHandle = {
        async stop() {
          if (!consumers.delete(handle)) return;
          stopping = true;
          clearInterval(refresher);
          wakeDispatcher?.();
          await dispatcher;
          // Pull requests still waiting at the server may deliver until they expire: keep listening until
          // then and nak what comes, so nothing waits out ackWait for a worker that is gone.
          const lastPull = Math.max(...lastPullAt);
          const wait = lastPull + PULL_EXPIRES_MS + 100 - Date.now();
          if (wait > 0 && !nc.isClosed()) await new Promise((resolve) => setTimeout(resolve, wait));
          for (const subscription of subscriptions) subscription.unsubscribe();
          // Make sure the acks reach the server before the caller closes anything.
          if (!nc.isClosed()) await nc.flush();
        },
      };
      consumers.add(handle);
      return handle;
    },

    async deadLetters({ limit = 1_000 } = {}) {
      const info = await jsm.streams.info(dlqStreamName);
      const letters: DeadLetter[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && letters.length < limit; seq++) {
        let stored: Awaited<ReturnType<typeof jsm.streams.getMessage>>;
        try {
          stored = await jsm.streams.getMessage(dlqStreamName, { seq });
        } catch {
          continue; // deleted message: a gap in the sequence
        }
        const raw = decoder.decode(stored.data);
        const parsed = parseEvent(stored.data);
        const header = (name: string) => stored.header.get(name);
        letters.push({
          event: typeof parsed === 'string' ? null : parsed,
          raw,
          reason: header(deadLetterHeaders.reason),
          deliveries: Number(header(deadLetterHeaders.deliveries)),
          streamSequence: Number(header(deadLetterHeaders.streamSequence)),
          consumer: header(deadLetterHeaders.consumer),
          subject: header(deadLetterHeaders.subject),
          deadAt: header(deadLetterHeaders.deadAt),
        });
      }
      return letters;
    },

    async close() {
      await Promise.all([...consumers].map((consumer) => consumer.stop()));
      if (!nc.isClosed()) {
        await nc.flush();
        await nc.close();
      }
    },
  };
}

class HandlerTimeoutError extends Error {
  constructor(ms: number) {
    super(`handler did not settle within ${ms} ms`);
    this.name = 'HandlerTimeoutError';
  }
}

/** Why `value` cannot be published as an event (empty when it can). */
function eventProblems(value: unknown, index: number): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`events[${index}] is not an object`];
  }
  const event = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of ['uuid', 'distinct_id', 'event'] as const) {
    if (typeof event[key] !== 'string' || event[key] === '') {
      problems.push(`events[${index}].${key} must be a non-empty string`);
    }
  }
  return problems;
}

/** Parses a message body into an event, or returns why it is not one. */
function parseEvent(data: Uint8Array): PluginEvent | string {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (error) {
    return `message is not JSON: ${errorMessage(error)}`;
  }
  const problems = eventProblems(value, 0);
  return problems.length > 0 ? `message is not an event: ${problems.join('; ')}` : (value as PluginEvent);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isNotFound(error: unknown): boolean {
  return error instanceof NatsError && (error.api_error?.code === 404 || /not found/i.test(error.message));
}

/** Creates the stream, or updates it when its config differs (e.g. new subjects); safe under races. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const info = await jsm.streams.info(config.name);
    const wanted = JSON.stringify([config.subjects, config.max_age]);
    if (JSON.stringify([info.config.subjects, info.config.max_age]) !== wanted) {
      await jsm.streams.update(config.name, { ...info.config, subjects: config.subjects, max_age: config.max_age });
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
    try {
      await jsm.streams.add(config);
    } catch (addError) {
      // Another worker created it first.
      if (!(await jsm.streams.info(config.name).catch(() => null))) throw addError;
    }
  }
}

/** Creates a durable consumer, or updates the editable settings of an existing one. */
async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  try {
    await jsm.consumers.add(stream, config);
  } catch (error) {
    if (!(error instanceof NatsError) || !/exist/i.test(error.message)) throw error;
    await jsm.consumers.update(stream, config.durable_name, {
      ack_wait: config.ack_wait,
      max_ack_pending: config.max_ack_pending,
      max_deliver: config.max_deliver,
    });
  }
}
