import { type JsonValue, PluglineError } from '@plugline/sdk';
import type { PluginCacheBackend, PluginStorageBackend, SandboxHostOptions } from './sandbox/host.js';

/**
 * Per-plugin quotas on what a plugin can make the host process hold or do. Defaults in
 * {@link defaultQuotas}; the runtime's `quotas` option changes them for every plugin and a plugin's
 * `settings.quotas` in `plugins.json` for that plugin. Over quota, the host call throws
 * `ERR_QUOTA_EXCEEDED` inside the sandbox (cache, storage, jobs, capture) or the line / name is
 * dropped (logs, metrics, which are fire and forget); every refusal is counted.
 */
export interface PluginQuotas {
  /** `meta.cache`: characters of keys + JSON values held at once (default 16 MiB). */
  cacheBytes: number;
  /** `meta.cache`: keys held at once (default 10,000). */
  cacheKeys: number;
  /** `meta.storage`: characters of one JSON value (default 1 MiB). */
  storageValueBytes: number;
  /** `meta.storage`: characters of keys + JSON values stored in all (default 64 MiB). */
  storageBytes: number;
  /** A log line: characters of its message + JSON fields; past it the fields are replaced by a note and the message cut (default 8 KiB). */
  logLineBytes: number;
  /** Log lines per second written to the process log; the rest are kept only in the plugin's recent lines (bounded) and counted (default 100). */
  logLinesPerSecond: number;
  /** Jobs waiting to run (default 1,000). */
  jobsPending: number;
  /** Jobs enqueued per minute (default 600). */
  jobsPerMinute: number;
  /** Characters of one job's JSON payload (default 64 KiB): with `jobsPending`, at most 64 MiB waiting. */
  jobPayloadBytes: number;
  /** Distinct `meta.metrics` names (default 100: they become Prometheus label values), each at most 200 characters. */
  metricNames: number;
  /**
   * Host calls of the plugin in flight at once (fetch, storage, cache, postgres, geoip; default 32):
   * the rest wait their turn, so responses held for the plugin stay within 32 x the fetch cap.
   */
  hostCallsInFlight: number;
  /** Events `posthog.capture` may emit per second (default 100). */
  capturesPerSecond: number;
  /**
   * How deep plugin-emitted events may chain (default 3): an event a client sent has depth 0; an
   * event captured while a plugin processes events of depth d has depth d + 1, and a capture that
   * would pass this depth is refused. Captures from jobs, schedules and setup start at depth 1.
   */
  captureDepth: number;
}

/** The quotas every plugin gets unless the runtime or its `settings.quotas` say otherwise. */
export const defaultQuotas: PluginQuotas = {
  cacheBytes: 16 * 1024 * 1024,
  cacheKeys: 10_000,
  storageValueBytes: 1024 * 1024,
  storageBytes: 64 * 1024 * 1024,
  logLineBytes: 8 * 1024,
  logLinesPerSecond: 100,
  jobsPending: 1000,
  jobsPerMinute: 600,
  jobPayloadBytes: 64 * 1024,
  metricNames: 100,
  hostCallsInFlight: 32,
  capturesPerSecond: 100,
  captureDepth: 3,
};

/** A quota's name, as counted in `GET /api/plugins` (`quotaExceeded`) and `plugline_quota_exceeded_total`. */
export type QuotaName = keyof PluginQuotas;

/** The quotas of one plugin: defaults, then the runtime's, then the plugin's settings (positive numbers only). */
export function resolveQuotas(...layers: (Partial<PluginQuotas> | undefined)[]): PluginQuotas {
  const quotas = { ...defaultQuotas };
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {})) {
      if (key in quotas && typeof value === 'number' && Number.isFinite(value) && value >= 0) quotas[key as QuotaName] = value;
    }
  }
  return quotas;
}

/** Counts refusals per quota for one plugin. */
export class QuotaCounter {
  readonly counts = new Map<QuotaName, number>();
  constructor(private readonly onExceeded: (quota: QuotaName, message: string) => void = () => {}) {}
  /** Records a refusal (of something fire and forget: a log line, a metric name). */
  note(quota: QuotaName, message: string): void {
    this.counts.set(quota, (this.counts.get(quota) ?? 0) + 1);
    this.onExceeded(quota, message);
  }
  /** Records a refusal and returns the coded error to throw. */
  exceeded(quota: QuotaName, message: string): PluglineError {
    this.note(quota, message);
    return new PluglineError('ERR_QUOTA_EXCEEDED', `${message} (quota ${quota})`, { details: [quota] });
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

const MAX_METRIC_NAME = 200;
const size = (value: unknown): number => (JSON.stringify(value) ?? '').length;

/** A fixed-window rate: `take()` is false once `limit` takes happened in the current window. */
export class WindowRate {
  private window = -1;
  private used = 0;
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}
  take(): boolean {
    const window = Math.floor(this.now() / this.windowMs);
    if (window !== this.window) {
      this.window = window;
      this.used = 0;
    }
    if (this.used >= this.limit) return false;
    this.used += 1;
    return true;
  }
}

/**
 * `meta.cache` with a byte and key quota. The sizes of the keys this process wrote are tracked here
 * (with their expiry), so the check costs no backend round trip; with a shared (Redis) cache the
 * quota is per runtime process. Lists are re-measured when the backend trims them.
 */
export function quotaCache(cache: PluginCacheBackend, quotas: PluginQuotas, counter: QuotaCounter, now: () => number = Date.now): PluginCacheBackend {
  const entries = new Map<string, { bytes: number; items: number; expiresAt: number }>();
  let total = 0;
  const purgeExpired = () => {
    const at = now();
    for (const [key, entry] of entries) {
      if (entry.expiresAt <= at) {
        total -= entry.bytes;
        entries.delete(key);
      }
    }
  };
  const record = (key: string, bytes: number, items: number, expiresAt?: number) => {
    const previous = entries.get(key);
    total += bytes - (previous?.bytes ?? 0);
    entries.set(key, { bytes, items, expiresAt: expiresAt ?? previous?.expiresAt ?? Number.POSITIVE_INFINITY });
  };
  const admit = (key: string, bytes: number) => {
    const previous = entries.get(key);
    const fits = () => total - (previous?.bytes ?? 0) + bytes <= quotas.cacheBytes && (entries.has(key) || entries.size < quotas.cacheKeys);
    if (fits()) return;
    purgeExpired();
    if (!fits()) {
      throw counter.exceeded(entries.has(key) || entries.size < quotas.cacheKeys ? 'cacheBytes' : 'cacheKeys', `meta.cache: writing ${key.slice(0, 100)} would hold more than ${quotas.cacheBytes} characters or ${quotas.cacheKeys} keys`);
    }
  };
  return {
    get: (key) => cache.get(key),
    async set(key, value, ttlSeconds) {
      const bytes = key.length + size(value);
      admit(key, bytes);
      await cache.set(key, value, ttlSeconds);
      record(key, bytes, 0, ttlSeconds ? now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY);
    },
    async incr(key, by) {
      admit(key, key.length + 24);
      const value = await cache.incr(key, by);
      record(key, key.length + 24, 0);
      return value;
    },
    async expire(key, ttlSeconds) {
      const done = await cache.expire(key, ttlSeconds);
      const entry = entries.get(key);
      if (done && entry) entry.expiresAt = now() + ttlSeconds * 1000;
      return done;
    },
    async lpush(key, values) {
      const entry = entries.get(key);
      const added = size(values);
      admit(key, (entry?.bytes ?? key.length) + added);
      const length = await cache.lpush(key, values);
      if (length < (entry?.items ?? 0) + values.length) {
        // The backend trimmed the list: measure what it holds.
        record(key, key.length + size(await cache.lrange(key, 0, -1)), length);
      } else record(key, (entry?.bytes ?? key.length) + added, length);
      return length;
    },
    lrange: (key, start, stop) => cache.lrange(key, start, stop),
    llen: (key) => cache.llen(key),
    async lpop(key, count) {
      const popped = await cache.lpop(key, count);
      const entry = entries.get(key);
      if (entry) record(key, Math.max(key.length, entry.bytes - size(popped)), Math.max(0, entry.items - popped.length));
      return popped;
    },
    async lrem(key, count, value) {
      const removed = await cache.lrem(key, count, value);
      const entry = entries.get(key);
      if (entry && removed > 0) record(key, Math.max(key.length, entry.bytes - removed * size(value)), Math.max(0, entry.items - removed));
      return removed;
    },
  };
}

/**
 * `meta.storage` with a value-size and a total quota. The total starts from `initialBytes()` (what
 * the plugin stored before, read once) and follows every write (the old value is read first).
 */
export function quotaStorage(storage: PluginStorageBackend, quotas: PluginQuotas, counter: QuotaCounter, initialBytes: () => number = () => 0): PluginStorageBackend {
  let total: number | undefined;
  const wrapped: PluginStorageBackend = {
    get: (key) => storage.get(key),
    async set(key, value) {
      const bytes = size(value);
      if (bytes > quotas.storageValueBytes) throw counter.exceeded('storageValueBytes', `meta.storage.set(${key.slice(0, 100)}): the value has ${bytes} characters of JSON (the limit is ${quotas.storageValueBytes})`);
      total ??= initialBytes();
      const previous = await storage.get(key);
      const delta = key.length + bytes - (previous === null ? 0 : key.length + size(previous));
      if (delta > 0 && total + delta > quotas.storageBytes) throw counter.exceeded('storageBytes', `meta.storage.set(${key.slice(0, 100)}): the plugin's storage would exceed ${quotas.storageBytes} characters`);
      await storage.set(key, value);
      total += delta;
    },
    async del(key) {
      const previous = total === undefined ? null : await storage.get(key);
      await storage.del(key);
      if (total !== undefined && previous !== null) total = Math.max(0, total - key.length - size(previous));
    },
  };
  if (storage.cursorInit) {
    const init = storage.cursorInit.bind(storage);
    // A new cursor key counts against the total like a small value.
    wrapped.cursorInit = async (key, initial) => {
      total ??= initialBytes();
      if ((await storage.get(key)) !== null) return;
      const bytes = key.length + 24;
      if (total + bytes > quotas.storageBytes) throw counter.exceeded('storageBytes', `utils.cursor.init(${key.slice(0, 100)}): the plugin's storage would exceed ${quotas.storageBytes} characters`);
      await init(key, initial);
      total += bytes;
    };
  }
  if (storage.cursorIncrement) wrapped.cursorIncrement = storage.cursorIncrement.bind(storage);
  return wrapped;
}

/** What {@link applyQuotas} needs besides the host options. */
export interface QuotaContext {
  quotas: PluginQuotas;
  counter: QuotaCounter;
  /** Characters the plugin already has in `meta.storage` (read once, lazily). */
  storedBytes?: () => number;
  /** Jobs of the plugin waiting to run. */
  pendingJobs?: () => number;
}

/**
 * The host options of one plugin with its quotas applied: cache, storage, log lines, metric names,
 * jobs and `posthog.capture` (rate only; depth is the runtime's, see {@link PluginQuotas.captureDepth}).
 */
export function applyQuotas(options: SandboxHostOptions, context: QuotaContext): SandboxHostOptions {
  const { quotas, counter } = context;
  const jobRate = new WindowRate(quotas.jobsPerMinute, 60_000);
  const captureRate = new WindowRate(quotas.capturesPerSecond, 1000);
  const metricNames = new Set<string>();
  const { sink, enqueueJob, capture } = options;
  return {
    ...options,
    cache: quotaCache(options.cache, quotas, counter),
    storage: quotaStorage(options.storage, quotas, counter, context.storedBytes),
    sink: {
      log(level, message, fields) {
        // The rate (logLinesPerSecond) is the runtime's: lines past it stay in the recent lines but
        // skip the process log.
        const fieldBytes = fields === undefined ? 0 : size(fields);
        if (message.length + fieldBytes <= quotas.logLineBytes) {
          sink.log(level, message, fields);
          return;
        }
        counter.note('logLineBytes', `a log line of ${message.length + fieldBytes} characters`);
        const kept = message.slice(0, Math.max(0, quotas.logLineBytes - 100));
        sink.log(level, kept, { $truncated: { messageChars: message.length, fieldsChars: fieldBytes, limit: quotas.logLineBytes } });
      },
      metric(kind, name, value) {
        if (name.length > MAX_METRIC_NAME) {
          counter.note('metricNames', `a metric name of ${name.length} characters (the limit is ${MAX_METRIC_NAME})`);
          return;
        }
        if (!metricNames.has(name)) {
          if (metricNames.size >= quotas.metricNames) {
            counter.note('metricNames', `more than ${quotas.metricNames} metric names (${name.slice(0, 100)} dropped)`);
            return;
          }
          metricNames.add(name);
        }
        sink.metric(kind, name, value);
      },
    },
    ...(enqueueJob
      ? {
          enqueueJob(name: string, payload: JsonValue, delayMs: number) {
            const bytes = size(payload);
            if (bytes > quotas.jobPayloadBytes) throw counter.exceeded('jobPayloadBytes', `job ${name}: the payload has ${bytes} characters of JSON (the limit is ${quotas.jobPayloadBytes})`);
            if (!jobRate.take()) throw counter.exceeded('jobsPerMinute', `job ${name}: more than ${quotas.jobsPerMinute} jobs enqueued in a minute`);
            if ((context.pendingJobs?.() ?? 0) >= quotas.jobsPending) throw counter.exceeded('jobsPending', `job ${name}: ${quotas.jobsPending} jobs are already waiting`);
            enqueueJob(name, payload, delayMs);
          },
        }
      : {}),
    ...(capture
      ? {
          capture(event: Record<string, unknown>) {
            if (!captureRate.take()) throw counter.exceeded('capturesPerSecond', `posthog.capture: more than ${quotas.capturesPerSecond} events in a second`);
            capture(event);
          },
        }
      : {}),
  };
}
