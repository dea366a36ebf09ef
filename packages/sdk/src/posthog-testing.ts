/**
 * `@plugline/sdk/posthog-testing`: the test utilities of `@posthog/plugin-scaffold`
 * (`@posthog/plugin-scaffold/test/utils`: `createEvent`, `createPageview`, `createIdentify`, `clone`,
 * `getMeta`, `resetMeta`) on Plugline's harness, so a PostHog plugin's own jest or vitest suite runs
 * unchanged once the import is aliased (vitest: `resolve.alias`; jest: `moduleNameMapper`).
 *
 * The events carry the same default values as the scaffold's (a test comparing against `'007'` or team
 * 13 still passes). `resetMeta` builds a full meta on Plugline's in-memory services: `config`,
 * `attachments`, `global`, `storage`, `cache` (with PostHog's list commands), `logger`, `metrics`,
 * `utils.cursor`, `jobs` (recorded in `meta.jobsRun`), `geoip` (every address unknown unless given),
 * `fetch` (the global one); what the test passes overrides it.
 *
 * @example
 * ```ts
 * // vitest.config.ts: resolve: { alias: { '@posthog/plugin-scaffold/test/utils': '@plugline/sdk/posthog-testing' } }
 * import { createPageview, resetMeta } from '@posthog/plugin-scaffold/test/utils';
 * const meta = resetMeta({ config: { greeting: 'hi' } });
 * const event = await processEvent(createPageview(), meta);
 * ```
 */
import type { JsonValue } from './plugin.js';
import { createMeta } from './testing.js';
import { ttlEntries } from './ttl-entries.js';

/** A PostHog plugin event as the scaffold's helpers make them. */
export interface ScaffoldEvent {
  distinct_id: string;
  ip: string;
  site_url: string;
  team_id: number;
  now: string;
  event: string;
  sent_at: string;
  timestamp: string;
  properties?: Record<string, unknown>;
  $set?: Record<string, unknown>;
  $set_once?: Record<string, unknown>;
  uuid?: string;
  [key: string]: unknown;
}

/**
 * An event with the scaffold's defaults (distinct_id '007', team 13, fixed 2020 timestamps), `changes` on top.
 *
 * @example
 * ```ts
 * createEvent({ event: 'purchase', properties: { amount: 10 } });
 * ```
 */
export function createEvent(changes: Partial<ScaffoldEvent> = {}): ScaffoldEvent {
  return {
    distinct_id: '007',
    ip: '127.128.129.130',
    site_url: 'http://localhost:8000/',
    team_id: 13,
    now: '2020-11-26T12:58:57.367Z',
    event: 'EVENT_TYPE',
    sent_at: '2020-11-26T12:58:58.453Z',
    timestamp: '2020-11-26T12:58:58.453Z',
    ...changes,
  };
}

/**
 * A `$pageview` from posthog-js on `http://localhost:8000/instance/status` (Chrome on Mac OS X).
 *
 * @example
 * ```ts
 * createPageview().properties?.$current_url; // 'http://localhost:8000/instance/status'
 * ```
 */
export function createPageview(): ScaffoldEvent {
  return createEvent({
    event: '$pageview',
    properties: {
      $os: 'Mac OS X',
      $lib: 'web',
      $host: 'localhost:8000',
      $browser: 'Chrome',
      $browser_version: 86,
      $pathname: '/instance/status',
      $current_url: 'http://localhost:8000/instance/status',
      $screen_width: 1790,
      $screen_height: 1120,
      $initial_referrer: '$direct',
      $initial_referring_domain: '$direct',
    },
  });
}

/**
 * An `$identify` whose `$set` has an email and the browser.
 *
 * @example
 * ```ts
 * createIdentify().$set?.email; // 'test@posthog.com'
 * ```
 */
export function createIdentify(): ScaffoldEvent {
  return createEvent({
    event: '$identify',
    $set: { $os: 'Mac OS X', email: 'test@posthog.com', $browser: 'Chrome', $browser_version: 86, $initial_referrer: '$direct', $initial_referring_domain: '$direct' },
  });
}

/**
 * A deep copy with JSON semantics (what crossing into a plugin does to an event).
 *
 * @example
 * ```ts
 * const copy = clone(event);
 * ```
 */
export function clone<T>(object: T): T {
  return JSON.parse(JSON.stringify(object)) as T;
}

/** PostHog's `meta.cache`: values, counters, TTLs and lists, in memory. */
export interface ScaffoldCache {
  set(key: string, value: unknown, ttlSeconds?: number, options?: { jsonSerialize?: boolean }): Promise<void>;
  get(key: string, defaultValue?: unknown): Promise<unknown>;
  incr(key: string): Promise<number>;
  expire(key: string, ttlSeconds: number): Promise<boolean>;
  lpush(key: string, elementOrArray: unknown): Promise<number>;
  lrange(key: string, startIndex: number, endIndex: number): Promise<unknown[]>;
  llen(key: string): Promise<number>;
  lpop(key: string, count?: number): Promise<unknown[]>;
  lrem(key: string, count: number, elementKey: unknown): Promise<number>;
}

function createScaffoldCache(now: () => number = Date.now): ScaffoldCache {
  const { entries, live } = ttlEntries<unknown>(now);
  const list = (key: string): unknown[] => {
    const value = live(key)?.value;
    return Array.isArray(value) ? value : [];
  };
  const keep = (key: string, value: unknown) => entries.set(key, { value, expiresAt: live(key)?.expiresAt ?? Number.POSITIVE_INFINITY });
  return {
    async set(key, value, ttlSeconds) {
      entries.set(key, { value: clone(value), expiresAt: ttlSeconds ? now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY });
    },
    async get(key, defaultValue = null) {
      const entry = live(key);
      return entry === undefined ? defaultValue : clone(entry.value);
    },
    async incr(key) {
      const current = live(key)?.value;
      const next = (typeof current === 'number' ? current : 0) + 1;
      keep(key, next);
      return next;
    },
    async expire(key, ttlSeconds) {
      const entry = live(key);
      if (!entry) return false;
      entry.expiresAt = now() + ttlSeconds * 1000;
      return true;
    },
    async lpush(key, elementOrArray) {
      const items = Array.isArray(elementOrArray) ? [...elementOrArray].reverse() : [elementOrArray];
      const next = [...clone(items), ...list(key)].slice(0, 1000);
      keep(key, next);
      return next.length;
    },
    async lrange(key, startIndex, endIndex) {
      const items = list(key);
      const from = startIndex < 0 ? Math.max(0, items.length + startIndex) : startIndex;
      const to = endIndex < 0 ? items.length + endIndex : Math.min(endIndex, items.length - 1);
      return to < from ? [] : clone(items.slice(from, to + 1));
    },
    async llen(key) {
      return list(key).length;
    },
    async lpop(key, count = 1) {
      const items = list(key);
      keep(key, items.slice(count));
      return items.slice(0, count);
    },
    async lrem(key, count, elementKey) {
      const target = JSON.stringify(elementKey);
      let removed = 0;
      keep(
        key,
        list(key).filter((item) => {
          if ((count === 0 || removed < Math.abs(count)) && JSON.stringify(item) === target) {
            removed += 1;
            return false;
          }
          return true;
        }),
      );
      return removed;
    },
  };
}

/** The meta {@link resetMeta} builds: Plugline's test meta with PostHog's cache, cursor and jobs. */
export type ScaffoldMeta = Omit<ReturnType<typeof createMeta>, 'cache'> & {
  cache: ScaffoldCache;
  utils: { cursor: { init(key: string, initialValue?: number): Promise<void>; increment(key: string, incrementBy?: number): Promise<number> } };
  jobs: Record<string, (payload?: unknown) => { runNow(): Promise<void>; runIn(duration: number, unit: string): Promise<void>; runAt(date: Date): Promise<void> }>;
  /** Jobs the plugin scheduled, in order (the test runs them itself: `plugin.jobs[name](payload, meta)`). */
  jobsRun: { name: string; payload: unknown; delayMs: number }[];
  [key: string]: unknown;
};

const UNITS: Record<string, number> = { millisecond: 1, second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 };

function createScaffoldMeta(): ScaffoldMeta {
  const base = createMeta();
  const jobsRun: ScaffoldMeta['jobsRun'] = [];
  const storage = base.storage;
  const utils: ScaffoldMeta['utils'] = {
    cursor: {
      async init(key, initialValue = 0) {
        if ((await storage.get(key)) === null) await storage.set(key, initialValue);
      },
      async increment(key, incrementBy = 1) {
        const next = (Number(await storage.get(key)) || 0) + incrementBy;
        await storage.set(key, next);
        return next;
      },
    },
  };
  const jobs = new Proxy({} as ScaffoldMeta['jobs'], {
    get: (_target, name) =>
      typeof name !== 'string'
        ? undefined
        : (payload?: unknown) => {
            const record = async (delayMs: number) => {
              jobsRun.push({ name, payload: payload === undefined ? undefined : (clone(payload) as JsonValue), delayMs: Math.max(0, delayMs) });
            };
            return {
              runNow: () => record(0),
              runIn: (duration: number, unit: string) => record(duration * (UNITS[String(unit).replace(/s$/, '')] ?? 1)),
              runAt: (date: Date) => record(new Date(date).getTime() - Date.now()),
            };
          },
  });
  return { ...base, cache: createScaffoldCache(), utils, jobs, jobsRun };
}

let current: ScaffoldMeta = createScaffoldMeta();

/**
 * A fresh meta (new storage, cache, global, logs), with `meta`'s keys on top; also what {@link getMeta}
 * answers from now on.
 *
 * @example
 * ```ts
 * const meta = resetMeta({ config: { apiKey: 'k' } });
 * await setupPlugin(meta);
 * ```
 */
export function resetMeta(meta: Record<string, unknown> = {}): ScaffoldMeta {
  current = { ...createScaffoldMeta(), ...meta } as ScaffoldMeta;
  return current;
}

/**
 * The meta {@link resetMeta} last built.
 *
 * @example
 * ```ts
 * await processEvent(createEvent(), getMeta());
 * ```
 */
export function getMeta(): ScaffoldMeta {
  return current;
}
