import type { GeoIpLocation, PluginGeoIp } from '@plugline/sdk';
import { createEvent, createMeta, runChain } from '@plugline/sdk/testing';
import geoipLite from 'geoip-lite';
import { describe, expect, it } from 'vitest';
import plugin, { toGeoIpProperties } from './index.js';

// What the runtime does host-side: a real geoip-lite lookup, shaped like PostHog's meta.geoip.locate.
const realGeoIp: PluginGeoIp = {
  async locate(ip) {
    const found = geoipLite.lookup(ip);
    if (!found) return null;
    const location: GeoIpLocation = {
      country: { isoCode: found.country },
      location: { latitude: found.ll[0], longitude: found.ll[1], timeZone: found.timezone, accuracyRadius: found.area },
    };
    if (found.city) location.city = { names: { en: found.city } };
    if (found.region) location.subdivisions = [{ isoCode: found.region }];
    return location;
  },
};

const withGeoIp = (config: Record<string, unknown> = {}) => ({ plugin, name: 'geoip', config, meta: createMeta({ geoip: realGeoIp }) });

describe('geoip', () => {
  it('adds the location of 8.8.8.8 from the real database', async () => {
    const { events, errors } = await runChain([withGeoIp()], [createEvent({ ip: '8.8.8.8', properties: { plan: 'pro' } })]);
    expect(errors).toEqual([]);
    const properties = events[0]?.properties;
    expect(properties).toMatchObject({ plan: 'pro', $geoip_country_code: 'US', $geoip_time_zone: 'America/Chicago' });
    expect(properties?.$geoip_latitude).toBeCloseTo(37.751, 2);
    expect(properties?.$geoip_longitude).toBeCloseTo(-97.822, 2);
    // geoip-lite does not know 8.8.8.8's city: the property is left out, not set to ''.
    expect(properties).not.toHaveProperty('$geoip_city_name');
  });

  it('adds city and subdivision when the database knows them, and sets person properties', async () => {
    const { events } = await runChain([withGeoIp()], [createEvent({ ip: '81.2.69.142' })]);
    const event = events[0];
    expect(event?.properties).toMatchObject({ $geoip_country_code: 'GB', $geoip_city_name: 'St Albans', $geoip_subdivision_1_code: 'ENG' });
    expect(event?.$set).toMatchObject({ $geoip_country_code: 'GB', $geoip_city_name: 'St Albans' });
    expect(event?.$set_once).toMatchObject({ $initial_geoip_country_code: 'GB', $initial_geoip_city_name: 'St Albans' });
  });

  it('falls back to properties.$ip and can discard the address after locating it', async () => {
    const { events } = await runChain(
      [withGeoIp({ discardIp: true, setPersonProperties: false })],
      [createEvent({ properties: { $ip: '8.8.8.8' } })],
    );
    const event = events[0];
    expect(event?.properties.$geoip_country_code).toBe('US');
    expect(event?.properties).not.toHaveProperty('$ip');
    expect(event?.ip).toBeNull();
    expect(event?.$set).toBeUndefined();
  });

  it('leaves events without an IP, with an unknown IP or with $geoip_disable unchanged', async () => {
    const input = [
      createEvent({ event: 'no-ip' }),
      createEvent({ event: 'private', ip: '10.0.0.1' }),
      createEvent({ event: 'disabled', ip: '8.8.8.8', properties: { $geoip_disable: true } }),
    ];
    const { events, dropped, errors, metas } = await runChain([withGeoIp()], input);
    expect(errors).toEqual([]);
    expect(dropped).toEqual([]);
    expect(events).toEqual(input);
    expect(metas.get('geoip')?.metricValues.get('ip_not_found')).toBe(1);
  });

  it('reports a failing lookup as a plugin error and lets the event through unchanged', async () => {
    const meta = createMeta<never, never>({
      geoip: {
        locate: async () => {
          throw new Error('GeoIP database unavailable');
        },
      },
    });
    const event = createEvent({ ip: '8.8.8.8' });
    const { events, errors } = await runChain([{ plugin, name: 'geoip', version: '1.0.0', meta }], [event]);
    expect(events).toEqual([event]);
    expect(errors.map((error) => error.message)).toEqual(['geoip@1.0.0 processEvent: GeoIP database unavailable']);
  });

  it('maps every field of a full answer', () => {
    expect(
      toGeoIpProperties({
        country: { isoCode: 'DE', names: { en: 'Germany' } },
        city: { names: { en: 'Berlin' } },
        continent: { code: 'EU', names: { en: 'Europe' } },
        postal: { code: '10115' },
        subdivisions: [{ isoCode: 'BE', names: { en: 'Land Berlin' } }],
        location: { latitude: 52.5, longitude: 13.4, timeZone: 'Europe/Berlin', accuracyRadius: 20 },
      }),
    ).toEqual({
      $geoip_city_name: 'Berlin',
      $geoip_country_name: 'Germany',
      $geoip_country_code: 'DE',
      $geoip_continent_name: 'Europe',
      $geoip_continent_code: 'EU',
      $geoip_postal_code: '10115',
      $geoip_latitude: 52.5,
      $geoip_longitude: 13.4,
      $geoip_accuracy_radius: 20,
      $geoip_time_zone: 'Europe/Berlin',
      $geoip_subdivision_1_code: 'BE',
      $geoip_subdivision_1_name: 'Land Berlin',
    });
  });
});
