import { describe, expect, it } from 'vitest';
import { MemoryCache, locateIp } from './host.js';

describe('MemoryCache', () => {
  it('expires values after their TTL and supports incr/expire', () => {
    let now = 1_000;
    const cache = new MemoryCache(() => now);
    cache.set('a', { x: 1 }, 10);
    cache.set('forever', 'v');
    expect(cache.get('a')).toEqual({ x: 1 });
    now += 9_999;
    expect(cache.get('a')).toEqual({ x: 1 });
    now += 1;
    expect(cache.get('a')).toBeNull();
    expect(cache.get('forever')).toBe('v');
    expect(cache.incr('n')).toBe(1);
    expect(cache.incr('n', 5)).toBe(6);
    expect(cache.expire('n', 1)).toBe(true);
    expect(cache.expire('missing', 1)).toBe(false);
    now += 1_000;
    expect(cache.get('n')).toBeNull();
  });

  it('has PostHog list operations with Redis semantics', () => {
    const cache = new MemoryCache();
    expect(cache.lpush('l', ['a', 'b'])).toBe(2);
    expect(cache.lpush('l', ['c'])).toBe(3);
    expect(cache.lrange('l', 0, -1)).toEqual(['c', 'b', 'a']);
    expect(cache.lrange('l', 1, 1)).toEqual(['b']);
    expect(cache.llen('l')).toBe(3);
    expect(cache.lpop('l')).toEqual(['c']);
    cache.lpush('l', ['a']);
    expect(cache.lrem('l', 0, 'a')).toBe(2);
    expect(cache.lrange('l', 0, -1)).toEqual(['b']);
    expect(cache.lpush('big', Array.from({ length: 1500 }, (_, i) => i))).toBe(1000);
  });
});

describe('locateIp', () => {
  it('answers in the MaxMind City shape from the bundled geoip-lite database, null when unknown', () => {
    expect(locateIp('8.8.8.8')).toMatchObject({ country: { isoCode: 'US', names: { en: 'United States' } }, location: { latitude: expect.any(Number), longitude: expect.any(Number) } });
    expect(locateIp('127.0.0.1')).toBeNull();
    expect(locateIp('not an ip')).toBeNull();
    // A range geoip-lite knows nothing about (country '', coordinates null) is unknown, not a location of nulls.
    expect(locateIp('67.43.156.1')).toBeNull();
  });
});
