import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { type GeoIpLocation, type JsonValue, PluglineError, isPluglineError } from '@plugline/sdk';
import type { Agent } from 'undici';
import { EgressPolicy } from './egress.js';
import { checkedPostgresConfig, createEgressAgent, egressFetch } from './egress-fetch.js';
import { reportHostError } from '../host-errors.js';
import { locateCity, type RegionHint } from './geoip-city.js';
import type { SandboxHost } from './sandbox.js';

const require = createRequire(import.meta.url);

/** Where a plugin's log lines and metrics go. */
export interface PluginSink {
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
  metric(kind: 'increment' | 'max' | 'min', name: string, value: number): void;
}

/** A value or a promise of it: backends may be in-process (SQLite, memory) or remote (Redis). */
type MaybePromise<T> = T | Promise<T>;

/** Persistent key-value storage for one plugin (JSON values). */
export interface PluginStorageBackend {
  get(key: string): MaybePromise<JsonValue | null>;
  set(key: string, value: JsonValue): MaybePromise<void>;
  del(key: string): MaybePromise<void>;
  /** Sets a numeric key if absent (PostHog `utils.cursor.init`). */
  cursorInit?(key: string, initial: number): MaybePromise<void>;
  /** Adds to a numeric key atomically and returns the new value (PostHog `utils.cursor.increment`). */
  cursorIncrement?(key: string, by: number): MaybePromise<number>;
}

/** A plugin's `meta.cache`: {@link MemoryCache} in one process, or shared (Redis) across workers. */
export interface PluginCacheBackend {
  get(key: string): MaybePromise<JsonValue | null>;
  set(key: string, value: JsonValue, ttlSeconds?: number | null): MaybePromise<void>;
  incr(key: string, by?: number): MaybePromise<number>;
  expire(key: string, ttlSeconds: number): MaybePromise<boolean>;
  lpush(key: string, values: JsonValue[]): MaybePromise<number>;
  lrange(key: string, start: number, stop: number): MaybePromise<JsonValue[]>;
  llen(key: string): MaybePromise<number>;
  lpop(key: string, count?: number): MaybePromise<JsonValue[]>;
  lrem(key: string, count: number, value: JsonValue): MaybePromise<number>;
}

/** Options of {@link createSandboxHost}. */
export interface SandboxHostOptions {
  sink: PluginSink;
  storage: PluginStorageBackend;
  cache: PluginCacheBackend;
  /** Whether the operator granted the `postgres` capability (`meta.postgres.query`). */
  postgres: boolean;
  /** The egress policy of every connection the plugin causes (default: public addresses only, no grants). */
  egress?: EgressPolicy;
  /** Called with each refused call (`ERR_CAPABILITY_DENIED`, `ERR_EGRESS_DENIED`, ...) so it is recorded against the plugin. */
  denied?: (op: string, error: PluglineError) => void;
  /** Max bytes of a fetch response body the plugin may read (default 10 MiB). */
  fetchMaxBytes?: number;
  /** Time cap of one fetch in ms (default 10 s). */
  fetchTimeoutMs?: number;
  /** Where `posthog.capture` events go (fire and forget: the runtime's own capture path). */
  capture?: (event: Record<string, unknown>) => void;
  /** Schedules a PostHog job (`meta.jobs.name(payload).runIn(...)`). */
  enqueueJob?: (name: string, payload: JsonValue, delayMs: number) => void;
}

/** A TTL cache in memory, per plugin; `now` in ms. */
export class MemoryCache {
  private readonly entries = new Map<string, { value: JsonValue; expiresAt: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  private live(key: string) {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
  get(key: string): JsonValue | null {
    return this.live(key)?.value ?? null;
  }
  set(key: string, value: JsonValue, ttlSeconds?: number | null): void {
    this.entries.set(key, { value, expiresAt: ttlSeconds ? this.now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY });
  }
  incr(key: string, by = 1): number {
    const entry = this.live(key);
    const next = (typeof entry?.value === 'number' ? entry.value : 0) + by;
    this.entries.set(key, { value: next, expiresAt: entry?.expiresAt ?? Number.POSITIVE_INFINITY });
    return next;
  }
  expire(key: string, ttlSeconds: number): boolean {
    const entry = this.live(key);
    if (!entry) return false;
    entry.expiresAt = this.now() + ttlSeconds * 1000;
    return true;
  }
  private list(key: string): JsonValue[] {
    const value = this.live(key)?.value;
    return Array.isArray(value) ? value : [];
  }
  /** PostHog's `lpush`: prepends values (max 1000 items kept); returns the new length. */
  lpush(key: string, values: JsonValue[]): number {
    const entry = this.live(key);
    const next = [...[...values].reverse(), ...this.list(key)].slice(0, 1000);
    this.entries.set(key, { value: next, expiresAt: entry?.expiresAt ?? Number.POSITIVE_INFINITY });
    return next.length;
  }
  /** Items `start..stop` (inclusive, negative from the end), like Redis LRANGE. */
  lrange(key: string, start: number, stop: number): JsonValue[] {
    const list = this.list(key);
    const from = start < 0 ? Math.max(0, list.length + start) : start;
    const to = stop < 0 ? list.length + stop : Math.min(stop, list.length - 1);
    return to < from ? [] : list.slice(from, to + 1);
  }
  llen(key: string): number {
    return this.list(key).length;
  }
  /** Removes and returns up to `count` items from the head. */
  lpop(key: string, count = 1): JsonValue[] {
    const entry = this.live(key);
    const list = this.list(key);
    const popped = list.slice(0, count);
    if (entry) entry.value = list.slice(count);
    return popped;
  }
  /** Removes `count` occurrences of `value` (0 = all); returns how many were removed. */
  lrem(key: string, count: number, value: JsonValue): number {
    const entry = this.live(key);
    if (!entry) return 0;
    const target = JSON.stringify(value);
    let removed = 0;
    entry.value = this.list(key).filter((item) => {
      if ((count === 0 || removed < Math.abs(count)) && JSON.stringify(item) === target) {
        removed += 1;
        return false;
      }
      return true;
    });
    return removed;
  }
}

interface GeoipLite {
  lookup(ip: string): { country: string; region: string; city: string; ll: [number | null, number | null]; timezone: string; area: number; eu: string } | null;
}
let geoip: GeoipLite | undefined;

/**
 * Looks an IP address up in the city database shipped with the runtime (DB-IP City Lite, see
 * geoip-city.ts) and answers in the MaxMind City shape PostHog's `meta.geoip.locate` gave; geoip-lite
 * (loaded on first use) adds the region's ISO code, the time zone and the accuracy radius when it
 * places the address in the same city. Null when the address is unknown.
 */
export function locateIp(ip: string): GeoIpLocation | null {
  return locateCity(ip, regionHint);
}

/** geoip-lite's answer for an IP, as the city lookup's hint (see geoip-city.ts). */
function regionHint(ip: string): RegionHint | undefined {
  geoip ??= require('geoip-lite') as GeoipLite;
  const hit = geoip.lookup(ip);
  if (!hit?.country) return undefined;
  return { country: hit.country, ...(hit.city ? { city: hit.city } : {}), ...(hit.region ? { region: hit.region } : {}), ...(hit.timezone ? { timeZone: hit.timezone } : {}), ...(typeof hit.area === 'number' ? { accuracyRadius: hit.area } : {}) };
}

interface PgPool {
  query(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}
const pools = new Map<string, PgPool>();

/** Closes the shared PostgreSQL pools (at runtime shutdown). */
export async function closePostgresPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.allSettled(all.map((pool) => pool.end()));
}

async function postgresQuery(egress: EgressPolicy, connectionString: string, text: string, values: unknown[]) {
  // The connection goes to the address the egress policy checked (pools are keyed by it too).
  const { key, config } = await checkedPostgresConfig(egress, connectionString);
  let pool = pools.get(key);
  if (!pool) {
    const pg = (await import('pg')).default;
    pool = new pg.Pool({ ...(config as object), max: 4, idleTimeoutMillis: 10_000 }) as unknown as PgPool;
    // An idle pooled connection closed by the server (restart, failover, pg_terminate_backend, a proxy)
    // is emitted here; without a listener it crashes the process. The pool drops that client and
    // opens a new one on the next query; a query on a connection that dies fails that query only.
    pool.on('error', (error) => reportHostError('postgres', error));
    pools.set(key, pool);
  }
  const result = await pool.query(text, values);
  // Rows cross to the sandbox as JSON: dates become ISO strings, bigints strings.
  return { rows: JSON.parse(JSON.stringify(result.rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))), rowCount: result.rowCount ?? 0 };
}

const URL_PARTS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'] as const;
function urlParts(url: URL): Record<string, string> {
  return Object.fromEntries(URL_PARTS.map((part) => [part, url[part]]));
}

async function hostFetch(request: unknown, maxBytes: number, timeoutMs: number, egress: EgressPolicy, agent: () => Agent) {
  const { url, method, headers, body, bodyBase64 } = request as {
    url: string;
    method: string;
    headers: [string, string][];
    body: string | null;
    bodyBase64: string | null;
  };
  // Redirects are followed by egressFetch, each hop checked; connections go to checked addresses.
  const { response, url: finalUrl } = await egressFetch(
    egress,
    agent(),
    { url, method, headers, body: bodyBase64 !== null ? Buffer.from(bodyBase64, 'base64') : body },
    AbortSignal.timeout(timeoutMs),
  );
  const chunks: Buffer[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new Error(`fetch: the response is larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  }
  return {
    status: response.status,
    statusText: response.statusText,
    url: finalUrl,
    headers: [...response.headers.entries()],
    body: Buffer.concat(chunks).toString('base64'),
  };
}

const LOG_LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'];
const METRIC_KINDS: readonly string[] = ['increment', 'max', 'min'];

/** The host side of one plugin's `meta` and globals: what the sandbox's bridge calls. */
export function createSandboxHost(options: SandboxHostOptions): SandboxHost {
  const { sink, storage, cache } = options;
  const fetchMaxBytes = options.fetchMaxBytes ?? 10 * 1024 * 1024;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 10_000;
  const egress = options.egress ?? new EgressPolicy();
  let agent: Agent | undefined;
  const egressAgent = () => {
    agent ??= createEgressAgent(egress, fetchTimeoutMs);
    return agent;
  };
  // Refusals are recorded against the plugin (the plugin gets the coded error too, and may catch it).
  const recordDenied = (op: string) => (error: unknown) => {
    if (isPluglineError(error) && ['ERR_CAPABILITY_DENIED', 'ERR_EGRESS_DENIED', 'ERR_EGRESS_REDIRECTS'].includes(error.code)) options.denied?.(op, error);
    throw error;
  };
  const log = (entry: unknown) => {
    if (!Array.isArray(entry)) return;
    const [level, message, rawFields] = entry as ['debug' | 'info' | 'warn' | 'error', string, unknown];
    // Buffered lines carry their fields as JSON text (serialized when the plugin logged).
    let fields = rawFields;
    if (typeof rawFields === 'string') {
      try {
        fields = JSON.parse(rawFields);
      } catch {
        fields = undefined;
      }
    }
    const safeFields = fields && typeof fields === 'object' && !Array.isArray(fields) ? (fields as Record<string, unknown>) : undefined;
    sink.log(LOG_LEVELS.includes(level) ? level : 'info', String(message).slice(0, 10_000), safeFields);
  };
  const metric = (entry: unknown) => {
    if (!Array.isArray(entry)) return;
    const [kind, name, value] = entry as ['increment' | 'max' | 'min', string, number];
    if (typeof value === 'number' && Number.isFinite(value) && METRIC_KINDS.includes(kind)) sink.metric(kind, String(name), value);
  };
  return {
    sync(op, payload) {
      const args = payload as unknown[];
      switch (op) {
        case 'buffered': {
          // The sandbox's buffered fire-and-forget calls: log lines in the order they were made, then metrics.
          const { logs, metrics } = (payload ?? {}) as { logs?: unknown; metrics?: unknown };
          if (Array.isArray(logs)) for (const entry of logs) log(entry);
          if (Array.isArray(metrics)) for (const entry of metrics) metric(entry);
          return undefined;
        }
        case 'log':
          log(args);
          return undefined;
        case 'metric':
          metric(args);
          return undefined;
        case 'random':
          return randomBytes(Math.min(65_536, Math.max(0, Number(payload) | 0))).toString('base64');
        case 'url.parse': {
          const [input, base] = args as [string, string | undefined];
          try {
            return JSON.stringify(urlParts(base === undefined ? new URL(input) : new URL(input, base)));
          } catch {
            return 'null';
          }
        }
        case 'url.set': {
          const [href, part, value] = args as [string, (typeof URL_PARTS)[number], string];
          try {
            const url = new URL(href);
            if (URL_PARTS.includes(part) && part !== 'origin') (url as unknown as Record<string, string>)[part] = value;
            return JSON.stringify(urlParts(url));
          } catch {
            return 'null';
          }
        }
        default:
          throw new Error(`unknown host service ${op}`);
      }
    },
    async async(op, payload) {
      const args = payload as unknown[];
      switch (op) {
        case 'storage.get':
          return storage.get(String(args[0]));
        case 'storage.set':
          await storage.set(String(args[0]), (args[1] ?? null) as JsonValue);
          return null;
        case 'storage.del':
          await storage.del(String(args[0]));
          return null;
        case 'cache.get':
          return cache.get(String(args[0]));
        case 'cache.set':
          await cache.set(String(args[0]), (args[1] ?? null) as JsonValue, args[2] as number | null);
          return null;
        case 'cache.incr':
          return cache.incr(String(args[0]), Number(args[1] ?? 1));
        case 'cache.expire':
          return cache.expire(String(args[0]), Number(args[1]));
        case 'cache.lpush':
          return cache.lpush(String(args[0]), Array.isArray(args[1]) ? (args[1] as JsonValue[]) : [args[1] as JsonValue]);
        case 'cache.lrange':
          return cache.lrange(String(args[0]), Number(args[1]), Number(args[2]));
        case 'cache.llen':
          return cache.llen(String(args[0]));
        case 'cache.lpop':
          return cache.lpop(String(args[0]), Number(args[1] ?? 1));
        case 'cache.lrem':
          return cache.lrem(String(args[0]), Number(args[1]), (args[2] ?? null) as JsonValue);
        case 'cursor.init': {
          const [key, initial] = args as [string, number];
          if (storage.cursorInit) await storage.cursorInit(String(key), Number(initial) || 0);
          else if ((await storage.get(String(key))) === null) await storage.set(String(key), Number(initial) || 0);
          return null;
        }
        case 'cursor.increment': {
          const [key, by] = args as [string, number];
          if (storage.cursorIncrement) return storage.cursorIncrement(String(key), Number(by) || 0);
          const next = (Number(await storage.get(String(key))) || 0) + (Number(by) || 0);
          await storage.set(String(key), next);
          return next;
        }
        case 'jobs.enqueue':
          if (!options.enqueueJob) throw new Error('jobs are not available here');
          options.enqueueJob(String(args[0]), (args[1] ?? null) as JsonValue, Math.min(Number(args[2]) || 0, 366 * 86_400_000));
          return null;
        case 'capture':
          if (!options.capture) throw new Error('posthog.capture is not available here');
          options.capture(args[0] as Record<string, unknown>);
          return null;
        case 'geoip':
          return locateIp(String(args[0]));
        case 'fetch':
          return hostFetch(payload, fetchMaxBytes, fetchTimeoutMs, egress, egressAgent).catch(recordDenied('fetch'));
        case 'postgres':
          if (!options.postgres) {
            return recordDenied('postgres')(
              new PluglineError('ERR_CAPABILITY_DENIED', 'meta.postgres.query needs the postgres capability: grant it with --allow-postgres (and --allow-net host:port for a private database)'),
            );
          }
          return postgresQuery(egress, String(args[0]), String(args[1]), Array.isArray(args[2]) ? args[2] : []).catch(recordDenied('postgres'));
        default:
          throw new Error(`unknown host service ${op}`);
      }
    },
  };
}
