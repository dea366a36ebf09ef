import { createRedisCache, createRedisClient, createRedisStorage } from '@plugline/scale';
import { reportHostError } from './host-errors.js';
import type { PluginCacheBackend, PluginStorageBackend } from './sandbox/host.js';

/** Plugin state shared by every runtime worker: `meta.storage` and `meta.cache` in Redis. */
export interface SharedPluginState {
  /** `meta.storage` of one plugin (keys `<keyPrefix>:storage:<plugin>:<key>`). */
  storageFor(plugin: string): PluginStorageBackend;
  /** `meta.cache` of one plugin (keys `<keyPrefix>:cache:<plugin>:<key>`). */
  cacheFor(plugin: string): PluginCacheBackend;
  /** Quits the Redis connection. */
  close(): Promise<void>;
}

/**
 * Connects the plugins' `meta.storage` and `meta.cache` to Redis (one connection per runtime), so every
 * worker of a deployment sees the same plugin state. Plugins are keyed by name: workers running the same
 * `plugins.json` share each plugin's state, as one PostHog plugin config did.
 */
export function createRedisPluginState(options: { url: string; keyPrefix?: string }): SharedPluginState {
  const client = createRedisClient(options.url);
  // ioredis reconnects by itself; its connection errors are reported (logged, counted), never thrown.
  client.on('error', (error: unknown) => reportHostError('redis', error));
  const keyPrefix = options.keyPrefix ?? 'plugline';
  return {
    storageFor(plugin) {
      const storage = createRedisStorage({ client, pluginKey: plugin, keyPrefix });
      return {
        get: (key) => storage.get(key),
        set: (key, value) => storage.set(key, value),
        del: (key) => storage.del(key),
        cursorInit: async (key, initial) => {
          await storage.setIfAbsent(key, initial);
        },
        cursorIncrement: (key, by) => storage.increment(key, by),
      };
    },
    cacheFor(plugin) {
      const cache = createRedisCache({ client, pluginKey: plugin, keyPrefix });
      return {
        get: (key) => cache.get(key),
        // The sandbox passes `null` for "no TTL"; the Redis cache wants it left out.
        set: (key, value, ttlSeconds) => (ttlSeconds ? cache.set(key, value, ttlSeconds) : cache.set(key, value)),
        incr: (key, by) => cache.incr(key, by),
        expire: (key, ttlSeconds) => cache.expire(key, ttlSeconds),
        lpush: (key, values) => cache.lpush(key, values),
        lrange: (key, start, stop) => cache.lrange(key, start, stop),
        llen: (key) => cache.llen(key),
        lpop: (key, count) => cache.lpop(key, count),
        lrem: (key, count, value) => cache.lrem(key, count, value),
      };
    },
    async close() {
      // QUIT waits for a connection; a client that has none (Redis down) is just disconnected.
      if (client.status === 'ready') await client.quit().catch(() => undefined);
      else client.disconnect();
    },
  };
}
