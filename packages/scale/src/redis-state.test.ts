import { randomUUID } from 'node:crypto';
import { PluglineError } from '@plugline/sdk';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisCache, createRedisClient, createRedisStorage, type PluginListCache, type RedisPluginStorage } from './redis-state.js';

const redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  // biome-ignore lint/suspicious/noConsole: tells whoever runs the suite why it was skipped
  console.warn('[@plugline/scale] REDIS_URL is not set: skipping the Redis storage/cache tests');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!redisUrl)('Redis plugin state (REDIS_URL)', () => {
  // A prefix of our own per run, deleted afterwards.
  const keyPrefix = `plugline-test-${randomUUID()}`;
  let admin: Redis;
  let cache: PluginListCache;

  beforeAll(() => {
    admin = new Redis(redisUrl!);
    cache = createRedisCache({ url: redisUrl!, pluginKey: 'first-time-event#1', keyPrefix });
  });

  afterAll(async () => {
    await cache?.close();
    const keys = await admin.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('persists storage across client instances (what another worker would see)', async () => {
    const writer = createRedisStorage({ url: redisUrl!, pluginKey: 'currency#7', keyPrefix });
    await writer.set('rates', { EUR: 1.1, list: [1, 'two', null, true] });
    await writer.set('counter', 3);
    await writer.close();

    const reader = createRedisStorage({ url: redisUrl!, pluginKey: 'currency#7', keyPrefix });
    expect(await reader.get('rates')).toEqual({ EUR: 1.1, list: [1, 'two', null, true] });
    expect(await reader.get('counter')).toBe(3);
    expect(await reader.get('missing', 'fallback')).toBe('fallback');
    expect(await reader.get('missing')).toBeNull();
    await reader.del('counter');
    expect(await reader.get('counter')).toBeNull();
    // Storage keys never expire.
    expect(await admin.ttl(`${keyPrefix}:storage:${encodeURIComponent('currency#7')}:rates`)).toBe(-1);
    await reader.close();
  });

  it('storage cursors: setIfAbsent only once, increment atomic across clients, non-numbers rejected', async () => {
    const client = createRedisClient(redisUrl!);
    const storages = [0, 1, 2].map(() => createRedisStorage({ client, pluginKey: 'cursor#1', keyPrefix }));
    const [first, second, third] = storages as [RedisPluginStorage, RedisPluginStorage, RedisPluginStorage];
    expect(await first.setIfAbsent('cursor', 10)).toBe(true);
    expect(await second.setIfAbsent('cursor', 99)).toBe(false);
    const values = await Promise.all(Array.from({ length: 30 }, (_, i) => storages[i % 3]!.increment('cursor', 1)));
    expect(values.sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => 11 + i));
    expect(await third.get('cursor')).toBe(40);
    expect(await third.increment('fresh', 2.5)).toBe(2.5);
    await third.set('text', 'abc');
    await expect(third.increment('text', 1)).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' });
    await expect(third.increment('cursor', Number.NaN)).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' });
    await client.quit();
  });

  it('keeps plugins apart, also when plugin keys contain the separator', async () => {
    const a = createRedisStorage({ url: redisUrl!, pluginKey: 'a:b', keyPrefix });
    const b = createRedisStorage({ url: redisUrl!, pluginKey: 'a', keyPrefix });
    await a.set('c', 'from a:b');
    await b.set('b:c', 'from a');
    expect(await a.get('c')).toBe('from a:b');
    expect(await b.get('b:c')).toBe('from a');
    await Promise.all([a.close(), b.close()]);
  });

  it('shares one client when given one, and leaves it open', async () => {
    const shared = new Redis(redisUrl!);
    const one = createRedisCache({ client: shared, pluginKey: 'p1', keyPrefix });
    const two = createRedisCache({ client: shared, pluginKey: 'p2', keyPrefix });
    await one.set('k', 1);
    await two.set('k', 2);
    await one.close();
    expect(await one.get('k')).toBe(1);
    expect(await two.get('k')).toBe(2);
    await shared.quit();
  });

  it('expires cache values after their TTL', async () => {
    await cache.set('short', { hello: 'world' }, 0.3);
    await cache.set('forever', 'kept');
    expect(await cache.get('short')).toEqual({ hello: 'world' });
    await sleep(450);
    expect(await cache.get('short')).toBeNull();
    expect(await cache.get('short', 'default')).toBe('default');
    expect(await cache.get('forever')).toBe('kept');
  });

  it('increments atomically from 0, by integers and fractions, across clients', async () => {
    expect(await cache.incr('hits')).toBe(1);
    expect(await cache.incr('hits', 5)).toBe(6);
    expect(await cache.incr('hits', -2)).toBe(4);
    expect(await cache.incr('ratio', 0.5)).toBe(0.5);
    expect(await cache.incr('ratio', 2)).toBe(2.5);

    const others = Array.from({ length: 4 }, () =>
      createRedisCache({ url: redisUrl!, pluginKey: 'first-time-event#1', keyPrefix }),
    );
    await Promise.all(others.flatMap((other) => Array.from({ length: 25 }, () => other.incr('shared'))));
    expect(await cache.get('shared')).toBe(100);
    await Promise.all(others.map((other) => other.close()));
  });

  it('rejects incr on a value that is not a number, with a coded error', async () => {
    await cache.set('name', 'alice');
    const error = await cache.incr('name').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluglineError);
    expect((error as PluglineError).code).toBe('ERR_BAD_REQUEST');
    expect(await cache.get('name')).toBe('alice');
  });

  it('sets a TTL with expire, keeps it on incr, and reports missing keys', async () => {
    expect(await cache.expire('no-such-key', 10)).toBe(false);
    await cache.set('session', 1);
    expect(await cache.expire('session', 0.3)).toBe(true);
    expect(await cache.incr('session')).toBe(2);
    await sleep(450);
    expect(await cache.get('session')).toBeNull();
  });

  it('rejects non-positive TTLs with a coded error', async () => {
    for (const attempt of [() => cache.set('x', 1, 0), () => cache.expire('x', -1), () => cache.set('x', 1, Number.NaN)]) {
      const error = await attempt().catch((e: unknown) => e);
      expect((error as PluglineError).code).toBe('ERR_BAD_REQUEST');
    }
    expect(await cache.get('x')).toBeNull();
  });

  it('supports PostHog-style list operations on JSON values', async () => {
    expect(await cache.llen('queue')).toBe(0);
    expect(await cache.lpush('queue', 'first')).toBe(1);
    expect(await cache.lpush('queue', [{ id: 2 }, 3, 'first'])).toBe(4);
    expect(await cache.lpush('queue', [])).toBe(4);
    expect(await cache.lrange('queue', 0, -1)).toEqual(['first', 3, { id: 2 }, 'first']);
    expect(await cache.lrange('queue', 1, 2)).toEqual([3, { id: 2 }]);
    expect(await cache.llen('queue')).toBe(4);
    expect(await cache.lrem('queue', 0, 'first')).toBe(2);
    expect(await cache.lrem('queue', 1, { id: 2 })).toBe(1);
    expect(await cache.lrange('queue', 0, -1)).toEqual([3]);
    await cache.lpush('queue', ['a', 'b']);
    expect(await cache.lpop('queue')).toEqual(['b']);
    expect(await cache.lpop('queue', 5)).toEqual(['a', 3]);
    expect(await cache.lpop('queue', 5)).toEqual([]);
    expect(await cache.llen('queue')).toBe(0);
  });

  it('rejects a missing pluginKey or url', () => {
    expect(() => createRedisCache({ url: redisUrl!, pluginKey: '' })).toThrow(PluglineError);
    expect(() => createRedisStorage({ pluginKey: 'p' })).toThrow(/url or a client/);
  });
});
