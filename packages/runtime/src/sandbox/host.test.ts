import { describe, expect, it } from 'vitest';
import { locateCity } from './geoip-city.js';
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
  it('answers in the MaxMind City shape from the shipped DB-IP City Lite database, null when unknown', () => {
    expect(locateIp('8.8.8.8')).toEqual({
      city: { names: { en: 'Mountain View' } },
      continent: { code: 'NA', names: { en: 'North America' } },
      country: { isoCode: 'US', names: { en: 'United States' } },
      location: { latitude: expect.closeTo(37.42, 1), longitude: expect.closeTo(-122.08, 1) },
      subdivisions: [{ names: { en: 'California' } }],
    });
    expect(locateIp('81.2.69.142')).toMatchObject({
      city: { names: { en: 'London' } },
      continent: { code: 'EU', names: { en: 'Europe' } },
      country: { isoCode: 'GB', names: { en: 'United Kingdom' } },
      subdivisions: [{ names: { en: 'England' } }],
    });
    // IPv6 has its own database.
    expect(locateIp('2001:4860:4860::8888')).toMatchObject({ country: { isoCode: 'CA' }, continent: { code: 'NA' } });
    expect(locateIp('127.0.0.1')).toBeNull();
    expect(locateIp('10.1.2.3')).toBeNull();
    expect(locateIp('not an ip')).toBeNull();
  });

  it("takes the region's ISO code, time zone and accuracy radius from the hint only when it names the same city", () => {
    const london = { country: 'GB', city: 'London', region: 'ENG', timeZone: 'Europe/London', accuracyRadius: 50 };
    expect(locateCity('81.2.69.142', () => london)).toMatchObject({
      location: { timeZone: 'Europe/London', accuracyRadius: 50 },
      subdivisions: [{ isoCode: 'ENG', names: { en: 'England' } }],
    });
    const elsewhere = locateCity('81.2.69.142', () => ({ ...london, city: 'St Albans' }));
    expect(elsewhere?.location).not.toHaveProperty('timeZone');
    expect(elsewhere?.subdivisions).toEqual([{ names: { en: 'England' } }]);
  });
});
