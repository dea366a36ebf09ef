import { type GeoIpLocation, definePlugin } from '@plugline/sdk';

/** Every property the plugin may set, as PostHog's GeoIP plugin names them. */
export const geoIpProperties = [
  '$geoip_city_name',
  '$geoip_country_name',
  '$geoip_country_code',
  '$geoip_continent_name',
  '$geoip_continent_code',
  '$geoip_postal_code',
  '$geoip_latitude',
  '$geoip_longitude',
  '$geoip_accuracy_radius',
  '$geoip_time_zone',
  '$geoip_subdivision_1_code',
  '$geoip_subdivision_1_name',
] as const;

type GeoIpProperty = (typeof geoIpProperties)[number];

/** `$geoip_x` → `$initial_geoip_x`, computed once. */
const initialKeys = Object.fromEntries(geoIpProperties.map((key) => [key, key.replace('$geoip_', '$initial_geoip_')])) as Record<GeoIpProperty, string>;

/** Turns a host GeoIP answer into `$geoip_*` properties, leaving out what the database does not know. */
export function toGeoIpProperties(location: GeoIpLocation): Partial<Record<GeoIpProperty, string | number>> {
  const subdivision = location.subdivisions?.[0];
  const candidates: Record<GeoIpProperty, string | number | undefined> = {
    $geoip_city_name: location.city?.names.en,
    $geoip_country_name: location.country?.names?.en,
    $geoip_country_code: location.country?.isoCode,
    $geoip_continent_name: location.continent?.names?.en,
    $geoip_continent_code: location.continent?.code,
    $geoip_postal_code: location.postal?.code,
    $geoip_latitude: location.location?.latitude,
    $geoip_longitude: location.location?.longitude,
    $geoip_accuracy_radius: location.location?.accuracyRadius,
    $geoip_time_zone: location.location?.timeZone,
    $geoip_subdivision_1_code: subdivision?.isoCode,
    $geoip_subdivision_1_name: subdivision?.names?.en,
  };
  const properties: Partial<Record<GeoIpProperty, string | number>> = {};
  for (const key of geoIpProperties) {
    const value = candidates[key];
    // geoip-lite answers '' for an unknown city or region: that is "unknown", not a name.
    if (value !== undefined && value !== '') properties[key] = value;
  }
  return properties;
}

/**
 * Adds `$geoip_*` properties from the event's IP address (`event.ip`, else `properties.$ip`). The
 * lookup is done by the host (`meta.geoip.locate`) from a database it ships, so there is no network
 * access at run time. Events without an IP, with `$geoip_disable: true`, or whose IP the database does
 * not know pass through unchanged.
 */
export default definePlugin({
  config: {
    type: 'object',
    properties: {
      setPersonProperties: {
        type: 'boolean',
        default: true,
        description: 'Also set the location on the person: latest in $set, first seen as $initial_geoip_* in $set_once.',
      },
      discardIp: {
        type: 'boolean',
        default: false,
        description: 'Remove the IP address (event.ip and properties.$ip) once it has been located, for privacy.',
      },
    },
  },
  async processEvent(event, { config, geoip, metrics }) {
    const ip = typeof event.ip === 'string' && event.ip !== '' ? event.ip : event.properties.$ip;
    if (typeof ip !== 'string' || ip === '' || event.properties.$geoip_disable === true) return event;
    const location = await geoip.locate(ip);
    if (config.discardIp) {
      event.ip = null;
      delete event.properties.$ip;
    }
    if (!location) {
      metrics.increment('ip_not_found');
      return event;
    }
    const found = toGeoIpProperties(location);
    const { properties } = event;
    // Plain loops over the found keys: this runs for every event, and spreads plus
    // Object.entries/fromEntries cost more than the lookup itself.
    const set: Record<string, unknown> | undefined = config.setPersonProperties ? { ...event.$set } : undefined;
    const setOnce: Record<string, unknown> | undefined = set ? { ...event.$set_once } : undefined;
    for (const key in found) {
      const value = found[key as GeoIpProperty];
      properties[key] = value;
      if (set && setOnce) {
        set[key] = value;
        setOnce[initialKeys[key as GeoIpProperty]] = value;
      }
    }
    if (set && setOnce) {
      event.$set = set;
      event.$set_once = setOnce;
    }
    metrics.increment('ip_located');
    return event;
  },
});
