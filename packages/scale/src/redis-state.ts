import { type JsonValue, type PluginCache, type PluginStorage, PluglineError } from '@plugline/sdk';
import { Redis } from 'ioredis';

/**
 * The cache API PostHog's plugins had: the SDK's {@link PluginCache} plus Redis list operations.
 * List elements are JSON values, encoded the same way as `set` values.
 */
export interface PluginListCache extends PluginCache {
  /** Prepends one value, or each value of an array in turn (so the last one ends up first); returns the new length. */
  lpush(key: string, valueOrValues: JsonValue | JsonValue[]): Promise<number>;
  /** Elements from `start` to `stop`, inclusive; negative indexes count from the end (`-1` is the last). */
  lrange(key: string, start: number, stop: number): Promise<JsonValue[]>;
  /** The list's length (0 when the key does not exist). */
  llen(key: string): Promise<number>;
  /** Removes and returns up to `count` (default 1) elements from the head. */
  lpop(key: string, count?: number): Promise<JsonValue[]>;
  /**
   * Removes elements equal to `value`: `count > 0` the first `count` from the head, `count < 0` from the
   * tail, `0` all. Returns how many were removed.
   */
  lrem(key: string, count: number, value: JsonValue): Promise<number>;
  /** Closes the connection when this cache opened it (not when it was given a client). */
  close(): Promise<void>;
}

/** {@link PluginStorage} backed by Redis, with `close`. */
export interface RedisPluginStorage extends PluginStorage {
  /** Sets `key` only when it does not exist (PostHog's `utils.cursor.init`); true when it was set. */
  setIfAbsent(key: string, value: JsonValue): Promise<boolean>;
  /** Adds `by` to a numeric key (0 when missing), atomically across workers; returns the new value (`utils.cursor.increment`). */
  increment(key: string, by: number): Promise<number>;
  /** Closes the connection when this storage opened it (not when it was given a client). */
  close(): Promise<void>;
}

/** Options for {@link createRedisStorage} and {@link createRedisCache}. */
export interface RedisStateOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Ignored when `client` is given. */
  url?: string;
  /** A shared ioredis client (one connection for every plugin of a worker); left open on `close`. */
  client?: Redis;
  /** Identifies the plugin (config); keys of different plugins never collide. */
  pluginKey: string;
  /** First segment of every key (default `plugline`). */
  keyPrefix?: string;
}

/**
 * Persistent plugin storage in Redis, shared by every worker: keys
 * `<keyPrefix>:storage:<pluginKey>:<key>` hold JSON, without expiry. How durable it is across Redis
 * restarts is the Redis server's persistence setting (use AOF for storage you cannot lose).
 *
 * @example
 * ```ts
 * const storage = createRedisStorage({ url: process.env.REDIS_URL, pluginKey: 'currency-normalizer#1' });
 * await storage.set('rates', { EUR: 1.1 });
 * ```
 */
export function createRedisStorage(options: RedisStateOptions): RedisPluginStorage {
  const keyOf = keyFor(options, 'storage');
  const { redis, close } = connection(options);
  return {
    async get<T extends JsonValue = JsonValue>(key: string, defaultValue?: T): Promise<T | null> {
      return decode<T>(await redis.get(keyOf(key)), defaultValue);
    },
    async set(key, value) {
      await redis.set(keyOf(key), encode(value));
    },
    async del(key) {
      await redis.del(keyOf(key));
    },
    async setIfAbsent(key, value) {
      return (await redis.set(keyOf(key), encode(value), 'NX')) === 'OK';
    },
    async increment(key, by) {
      if (!Number.isFinite(by)) throw new PluglineError('ERR_BAD_REQUEST', `storage.increment: by must be a finite number, got ${by}`);
      try {
        return Number(await redis.incrbyfloat(keyOf(key), by));
      } catch (error) {
        throw notNumeric(key, error);
      }
    },
    close,
  };
}

/**
 * Opens one ioredis connection to share between the storages and caches of every plugin of a worker
 * (pass it as `client`; quit it yourself at shutdown).
 */
export function createRedisClient(url: string): Redis {
  if (typeof url !== 'string' || url === '') throw new PluglineError('ERR_BAD_REQUEST', 'createRedisClient needs a Redis URL');
  return new Redis(url, { maxRetriesPerRequest: 3 });
}

/**
 * The plugin cache in Redis, shared by every worker: keys `<keyPrefix>:cache:<pluginKey>:<key>`, JSON
 * values, TTLs in seconds (fractions allowed), atomic `incr`, and PostHog's list operations.
 *
 * @example
 * ```ts
 * const cache = createRedisCache({ url: process.env.REDIS_URL, pluginKey: 'first-time-event#3' });
 * if ((await cache.incr(`seen:${event.distinct_id}`)) === 1) await cache.expire(`seen:${event.distinct_id}`, 86_400);
 * ```
 */
export function createRedisCache(options: RedisStateOptions): PluginListCache {
  const keyOf = keyFor(options, 'cache');
  const { redis, close } = connection(options);
  return {
    async get<T extends JsonValue = JsonValue>(key: string, defaultValue?: T): Promise<T | null> {
      return decode<T>(await redis.get(keyOf(key)), defaultValue);
    },
    async set(key, value, ttlSeconds) {
      if (ttlSeconds === undefined) {
        await redis.set(keyOf(key), encode(value));
      } else {
        await redis.set(keyOf(key), encode(value), 'PX', ttlMs(ttlSeconds, 'set'));
      }
    },
    async incr(key, by = 1) {
      if (!Number.isFinite(by)) throw new PluglineError('ERR_BAD_REQUEST', `cache.incr: by must be a finite number, got ${by}`);
      try {
        // INCRBY keeps integers exact; INCRBYFLOAT handles fractions. Both keep the key's TTL.
        return Number.isInteger(by) ? await redis.incrby(keyOf(key), by) : Number(await redis.incrbyfloat(keyOf(key), by));
      } catch (error) {
        if (Number.isInteger(by) && /not an integer/i.test(String(error))) {
          try {
            return Number(await redis.incrbyfloat(keyOf(key), by));
          } catch (floatError) {
            throw notNumeric(key, floatError);
          }
        }
        throw notNumeric(key, error);
      }
    },
    async expire(key, ttlSeconds) {
      return (await redis.pexpire(keyOf(key), ttlMs(ttlSeconds, 'expire'))) === 1;
    },
    async lpush(key, valueOrValues) {
      const values = Array.isArray(valueOrValues) ? valueOrValues : [valueOrValues];
      if (values.length === 0) return redis.llen(keyOf(key));
      return redis.lpush(keyOf(key), ...values.map(encode));
    },
    async lrange(key, start, stop) {
      return (await redis.lrange(keyOf(key), start, stop)).map((raw) => decode(raw) as JsonValue);
    },
    async llen(key) {
      return redis.llen(keyOf(key));
    },
    async lpop(key, count = 1) {
      const popped = await redis.lpop(keyOf(key), count);
      return (popped ?? []).map((raw) => decode(raw) as JsonValue);
    },
    async lrem(key, count, value) {
      return redis.lrem(keyOf(key), count, encode(value));
    },
    close,
  };
}

function connection(options: RedisStateOptions): { redis: Redis; close: () => Promise<void> } {
  if (options.client) return { redis: options.client, close: async () => {} };
  if (!options.url) throw new PluglineError('ERR_BAD_REQUEST', 'Redis state needs a url or a client');
  const redis = new Redis(options.url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  return {
    redis,
    close: async () => {
      await redis.quit();
    },
  };
}

function keyFor(options: RedisStateOptions, kind: 'storage' | 'cache'): (key: string) => string {
  if (typeof options.pluginKey !== 'string' || options.pluginKey === '') {
    throw new PluglineError('ERR_BAD_REQUEST', 'Redis state needs a non-empty pluginKey');
  }
  // Encoded so that a ':' in a plugin key cannot make two plugins' keys collide.
  const base = `${options.keyPrefix ?? 'plugline'}:${kind}:${encodeURIComponent(options.pluginKey)}:`;
  return (key) => base + key;
}

function encode(value: JsonValue): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new PluglineError('ERR_BAD_REQUEST', 'Only JSON values can be stored');
  return json;
}

function decode<T extends JsonValue>(raw: string | null, defaultValue?: T): T | null {
  if (raw === null) return defaultValue ?? null;
  return JSON.parse(raw) as T;
}

function ttlMs(ttlSeconds: number, operation: string): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new PluglineError('ERR_BAD_REQUEST', `cache.${operation}: ttlSeconds must be a positive number, got ${ttlSeconds}`);
  }
  return Math.max(1, Math.round(ttlSeconds * 1_000));
}

function notNumeric(key: string, cause: unknown): PluglineError {
  return new PluglineError('ERR_BAD_REQUEST', `cache.incr: the value at "${key}" is not a number`, { cause });
}
