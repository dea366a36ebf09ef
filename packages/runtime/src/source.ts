import type { PluginEvent } from '@plugline/sdk';
import { PluglineError } from '@plugline/sdk';
import { type ConsumerHandle, createNatsEventQueue, type DeadLetter, type EventQueue } from '@plugline/scale';
import type { Logger } from 'pino';
import type { Runtime } from './runtime.js';
import { reportHostError } from './host-errors.js';

/**
 * Where the capture API's events go. `inline` (the default): processed in this process before the
 * capture request answers. `nats`: published to a NATS JetStream queue and processed by runtime workers.
 */
export type EventSourceOptions = InlineSourceOptions | NatsSourceOptions;

/** The default: the capture API runs the chain and stores in-process. */
export interface InlineSourceOptions {
  kind: 'inline';
}

/** The capture API publishes to JetStream; workers consume (see `role`). */
export interface NatsSourceOptions {
  kind: 'nats';
  /** NATS server URL with JetStream, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /**
   * What this process does with the queue: `both` (default) publishes captured events and consumes,
   * `worker` consumes (its capture routes still publish), `capture` only publishes (runs no chain).
   */
  role?: 'capture' | 'worker' | 'both';
  /** JetStream stream (default `PLUGLINE_EVENTS`). Every process of one deployment uses the same. */
  stream?: string;
  /** Subject prefix (default `plugline.events`). */
  subjectPrefix?: string;
  /** Partitions `distinct_id`s are hashed into: the most events in flight at once (default 16). */
  partitions?: number;
  /** Consumer group name shared by the workers (default `runtime`). */
  durable?: string;
  /** Deliveries before an event is dead-lettered (default 5). */
  maxDeliver?: number;
  /** Unacked events are redelivered after this, ms (default 30 000). */
  ackWaitMs?: number;
  /** First retry delay after a failed batch, ms (default 1000, doubling). */
  retryDelayMs?: number;
  /** Most events per chain run taken from the queue (default: `partitions`). */
  batchSize?: number;
}

/** A started event source (see {@link startEventSource}). */
export interface RunningEventSource {
  readonly kind: 'inline' | 'nats';
  /** Whether this process consumes the queue (runs the chain for queued events). */
  readonly consuming: boolean;
  /** Publishes accepted events; resolves once JetStream has stored every one. */
  publish(events: readonly PluginEvent[]): Promise<void>;
  /** The queue's dead letters, oldest first. */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  /** Stops consuming (the batch in progress is finished and acked) and disconnects. */
  close(): Promise<void>;
}

/**
 * Connects a runtime to its event source. With `nats`, a `worker`/`both` process consumes the queue as
 * one member of the `durable` consumer group: each batch runs through the chain and is stored
 * (deduplicated by uuid) before the queue acks it; a crash before that redelivers the batch.
 */
export async function startEventSource(runtime: Runtime, options: NatsSourceOptions, logger: Logger): Promise<RunningEventSource> {
  if (typeof options.url !== 'string' || options.url === '') throw new PluglineError('ERR_BAD_REQUEST', 'source nats needs a url (PLUGLINE_NATS_URL)');
  const role = options.role ?? 'both';
  if (!['capture', 'worker', 'both'].includes(role)) throw new PluglineError('ERR_BAD_REQUEST', `source role must be capture, worker or both, got "${role}"`);
  const partitions = options.partitions ?? 16;
  const queue: EventQueue = await createNatsEventQueue({
    url: options.url,
    ...(options.stream ? { stream: options.stream } : {}),
    ...(options.subjectPrefix ? { subjectPrefix: options.subjectPrefix } : {}),
    partitions,
    ...(options.maxDeliver !== undefined ? { maxDeliver: options.maxDeliver } : {}),
    ...(options.ackWaitMs !== undefined ? { ackWaitMs: options.ackWaitMs } : {}),
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    // Logged and counted (plugline_host_errors_total{resource="nats"}) by the runtime; the queue reconnects.
    onError: (error) => reportHostError('nats', error),
  });
  let consumer: ConsumerHandle | undefined;
  if (role !== 'capture') {
    try {
      consumer = await queue.consume({
        durable: options.durable ?? 'runtime',
        batchSize: options.batchSize ?? partitions,
        handler: async (events) => {
          // Resolves once the surviving events are stored (a uuid already stored counts as done).
          await runtime.ingest(events);
        },
      });
    } catch (error) {
      await queue.close().catch(() => undefined);
      throw error;
    }
  }
  logger.info({ source: 'nats', role, partitions, stream: options.stream ?? 'PLUGLINE_EVENTS' }, 'event source connected');
  return {
    kind: 'nats',
    consuming: consumer !== undefined,
    publish: (events) => queue.publish(events),
    deadLetters: (limit) => queue.deadLetters(limit === undefined ? {} : { limit }),
    async close() {
      await consumer?.stop();
      await queue.close();
    },
  };
}

/**
 * Reads the event source from the environment of `plugline-runtime`: `PLUGLINE_SOURCE` (`inline` or
 * `nats`), `PLUGLINE_NATS_URL`, `PLUGLINE_ROLE`, `PLUGLINE_NATS_STREAM`, `PLUGLINE_NATS_PARTITIONS`,
 * `PLUGLINE_NATS_DURABLE`, `PLUGLINE_NATS_MAX_DELIVER`, `PLUGLINE_NATS_ACK_WAIT_MS`; flags `--source
 * <kind>`, `--worker` (role worker), `--capture` (role capture) and `--nats-url <url>` win over the env.
 */
export function sourceFromEnv(env: NodeJS.ProcessEnv, argv: readonly string[]): EventSourceOptions {
  const flag = (name: string) => {
    const index = argv.indexOf(name);
    if (index === -1) return undefined;
    const value = argv[index + 1];
    if (value === undefined || value.startsWith('--')) throw new PluglineError('ERR_USAGE', `${name} needs a value`);
    return value;
  };
  for (const arg of argv) {
    if (arg.startsWith('--') && !['--source', '--nats-url', '--worker', '--capture'].includes(arg)) throw new PluglineError('ERR_USAGE', `unknown option ${arg}`);
  }
  const kind = flag('--source') ?? env.PLUGLINE_SOURCE ?? 'inline';
  if (kind === 'inline') {
    if (argv.includes('--worker') || argv.includes('--capture')) throw new PluglineError('ERR_USAGE', '--worker and --capture need --source nats');
    return { kind: 'inline' };
  }
  if (kind !== 'nats') throw new PluglineError('ERR_USAGE', `--source must be inline or nats, got "${kind}"`);
  const url = flag('--nats-url') ?? env.PLUGLINE_NATS_URL;
  if (!url) throw new PluglineError('ERR_USAGE', '--source nats needs PLUGLINE_NATS_URL (or --nats-url)');
  const role = argv.includes('--worker') ? 'worker' : argv.includes('--capture') ? 'capture' : (env.PLUGLINE_ROLE ?? 'both');
  if (role !== 'worker' && role !== 'capture' && role !== 'both') throw new PluglineError('ERR_USAGE', `PLUGLINE_ROLE must be capture, worker or both, got "${role}"`);
  const number = (name: string) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new PluglineError('ERR_USAGE', `${name} must be a positive integer, got "${raw}"`);
    return value;
  };
  const partitions = number('PLUGLINE_NATS_PARTITIONS');
  const maxDeliver = number('PLUGLINE_NATS_MAX_DELIVER');
  const ackWaitMs = number('PLUGLINE_NATS_ACK_WAIT_MS');
  return {
    kind: 'nats',
    url,
    role,
    ...(env.PLUGLINE_NATS_STREAM ? { stream: env.PLUGLINE_NATS_STREAM } : {}),
    ...(env.PLUGLINE_NATS_SUBJECT_PREFIX ? { subjectPrefix: env.PLUGLINE_NATS_SUBJECT_PREFIX } : {}),
    ...(env.PLUGLINE_NATS_DURABLE ? { durable: env.PLUGLINE_NATS_DURABLE } : {}),
    ...(partitions !== undefined ? { partitions } : {}),
    ...(maxDeliver !== undefined ? { maxDeliver } : {}),
    ...(ackWaitMs !== undefined ? { ackWaitMs } : {}),
  };
}

/**
 * `PLUGLINE_LEASE_MS`: how long a runtime's claim on an export batch, job or scheduled period lasts
 * without a heartbeat (see `RuntimeOptions.leaseMs`). Undefined when unset; at least 100 ms.
 */
export function leaseMsFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.PLUGLINE_LEASE_MS;
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 100) throw new PluglineError('ERR_USAGE', `PLUGLINE_LEASE_MS must be an integer of at least 100 (ms), got "${raw}"`);
  return value;
}
