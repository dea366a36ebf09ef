import type { Bridge } from './bridge.js';
import type { Buffered } from './buffered.js';
import { cloneJson } from './clone.js';
import { freeze } from './intrinsics.js';

/** What the host tells the prelude about the plugin (`$2`, JSON). */
export interface PreludeInit {
  name: string;
  version: string;
  config: Record<string, unknown>;
  attachments: Record<string, unknown>;
  capabilities: string[];
}

const JOB_UNITS: Record<string, number> = { millisecond: 1, second: 1000, minute: 60000, hour: 3600000, day: 86400000, week: 604800000 };

/** The plugin's `meta`: its window on the host. Mutable at the top (plugins set `meta.global.x`); services frozen. */
export interface Meta {
  config: Record<string, unknown>;
  attachments: Record<string, unknown>;
  global: Record<string, unknown>;
  metrics: Readonly<Record<string, unknown>>;
  [service: string]: unknown;
}

export function createMeta(init: PreludeInit, bridge: Bridge, buffered: Buffered, fetch: unknown, locate: (ip: unknown) => Promise<unknown>): Meta {
  const { callAsync } = bridge;
  const orDefault = (v: unknown, defaultValue: unknown) => (v === undefined || v === null ? (defaultValue === undefined ? null : defaultValue) : v);
  const logWith = (level: 'debug' | 'info' | 'warn' | 'error') => (message: unknown, fields?: unknown) => {
    buffered.log(level, String(message), fields === undefined ? undefined : cloneJson(fields));
  };
  const meta: Meta = {
    config: init.config,
    attachments: init.attachments,
    global: {},
    storage: freeze({
      get: async (key: unknown, defaultValue?: unknown) => orDefault(await callAsync('storage.get', [String(key)]), defaultValue),
      set: async (key: unknown, value: unknown) => {
        await callAsync('storage.set', [String(key), cloneJson(value) ?? null]);
      },
      del: async (key: unknown) => {
        await callAsync('storage.del', [String(key)]);
      },
    }),
    cache: freeze({
      get: async (key: unknown, defaultValue?: unknown) => orDefault(await callAsync('cache.get', [String(key)]), defaultValue),
      set: async (key: unknown, value: unknown, ttlSeconds?: unknown) => {
        await callAsync('cache.set', [String(key), cloneJson(value) ?? null, ttlSeconds ?? null]);
      },
      incr: async (key: unknown, by?: unknown) => callAsync('cache.incr', [String(key), by === undefined ? 1 : Number(by)]),
      expire: async (key: unknown, ttlSeconds: unknown) => callAsync('cache.expire', [String(key), Number(ttlSeconds)]),
      lpush: async (key: unknown, values: unknown) => callAsync('cache.lpush', [String(key), cloneJson(values) ?? null]),
      lrange: async (key: unknown, start: unknown, stop: unknown) => callAsync('cache.lrange', [String(key), Number(start), Number(stop)]),
      llen: async (key: unknown) => callAsync('cache.llen', [String(key)]),
      lpop: async (key: unknown, count?: unknown) => callAsync('cache.lpop', [String(key), count === undefined ? 1 : Number(count)]),
      lrem: async (key: unknown, count: unknown, value: unknown) => callAsync('cache.lrem', [String(key), Number(count), cloneJson(value) ?? null]),
    }),
    logger: freeze({ debug: logWith('debug'), info: logWith('info'), warn: logWith('warn'), error: logWith('error') }),
    metrics: freeze({
      increment: (name: unknown, by?: unknown) => {
        buffered.metric('increment', String(name), by === undefined ? 1 : Number(by));
      },
      max: (name: unknown, value: unknown) => {
        buffered.metric('max', String(name), Number(value));
      },
      min: (name: unknown, value: unknown) => {
        buffered.metric('min', String(name), Number(value));
      },
    }),
    fetch,
    geoip: freeze({ locate }),
    // PostHog's utils.cursor: an atomic counter in the plugin's storage.
    utils: freeze({
      cursor: freeze({
        init: async (key: unknown, initialValue?: unknown) => {
          await callAsync('cursor.init', [String(key), initialValue === undefined ? 0 : Number(initialValue)]);
        },
        increment: async (key: unknown, incrementBy?: unknown) => callAsync('cursor.increment', [String(key), incrementBy === undefined ? 1 : Number(incrementBy)]),
      }),
    }),
    // PostHog's jobs: meta.jobs.name(payload).runNow() / .runIn(3, 'minutes') / .runAt(date), run by the host later.
    jobs: new Proxy(freeze({}), {
      get: (_target, jobName) => {
        if (typeof jobName !== 'string') return undefined;
        return (payload: unknown) => {
          const enqueue = (delayMs: number) => callAsync('jobs.enqueue', [jobName, cloneJson(payload) ?? null, Math.max(0, Number(delayMs) || 0)]).then(() => undefined);
          return freeze({
            runNow: () => enqueue(0),
            runIn: (duration: unknown, unit: unknown = 'milliseconds') => enqueue(Number(duration) * (JOB_UNITS[String(unit).replace(/s$/, '')] ?? 1)),
            runAt: (date: unknown) => enqueue(new Date(date as string).getTime() - Date.now()),
          });
        };
      },
    }),
  };
  if (init.capabilities.includes('postgres')) {
    meta.postgres = freeze({
      query: async (connectionString: unknown, text: unknown, values?: unknown) =>
        callAsync('postgres', [String(connectionString), String(text), values === undefined ? [] : cloneJson(values)]),
    });
  }
  return meta;
}
