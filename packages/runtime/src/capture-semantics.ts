// PostHog's event semantics at capture: when an event happened, and which address it came from.

/** What a capture request adds to its events. */
export interface CaptureContext {
  /** The request's address (`req.ip`); left out when the request's address must not be recorded. */
  ip?: string;
  /** When the request was received (default: now). */
  now?: Date;
  /** `sent_at` from the query (`?_=` or `?sent_at=`, epoch ms): used when the body has none. */
  sentAt?: number;
  /** PostHog's "discard client IP data": no `ip`, no `$ip`, not even one the client sent. */
  anonymizeIps?: boolean;
  /** The event name of an item that has none (`/engage` sends person updates: `$identify`). */
  defaultEvent?: string;
}

/** PostHog moves an event further than this into the future back to the time it was received. */
export const FUTURE_CUTOFF_MS = 23 * 3600 * 1000;

const NUMERIC = /^-?\d+(\.\d+)?$/;
// What `Date` can represent and PostHog stores (years 0 to 9999).
const MIN_TIME = Date.parse('0000-01-01T00:00:00.000Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/** A time as clients send it: an ISO 8601 string, or epoch milliseconds (a number or a numeric string). */
export function parseTime(value: unknown): number | undefined {
  let time: number;
  if (typeof value === 'number') time = value;
  else if (typeof value === 'string' && value.trim() !== '') time = NUMERIC.test(value.trim()) ? Number(value) : Date.parse(value);
  else return undefined;
  return Number.isFinite(time) ? Math.trunc(time) : undefined;
}

/** `sent_at` of a body or an event; an unreadable one is ignored, as PostHog does. */
export function parseSentAt(value: unknown): number | undefined {
  return value === undefined || value === null ? undefined : parseTime(value);
}

/**
 * The stored timestamp of an event, by PostHog's rules (its timestamp docs and ingestion code):
 *
 * - `timestamp` and a `sent_at` (the event's, the body's, or `?_=`/`?sent_at=`): the client's clock skew
 *   is removed, `now + (timestamp - sent_at)`, unless `properties.$ignore_sent_at` is true;
 * - `timestamp` alone: as it is (ISO 8601 or epoch milliseconds);
 * - no timestamp, an `offset` (ms): `now - offset`;
 * - neither: `now`;
 * - a result more than 23 hours in the future becomes `now`.
 */
export function eventTimestamp(
  raw: Record<string, unknown>,
  properties: Record<string, unknown>,
  now: Date,
  sentAt: number | undefined,
): { iso: string } | { error: string } {
  const received = now.getTime();
  let time = received;
  if (raw.timestamp !== undefined && raw.timestamp !== null) {
    const timestamp = parseTime(raw.timestamp);
    if (timestamp === undefined) return { error: '"timestamp" must be an ISO 8601 date or epoch milliseconds' };
    time = sentAt !== undefined && properties.$ignore_sent_at !== true ? received + (timestamp - sentAt) : timestamp;
  } else if (typeof raw.offset === 'number' && Number.isFinite(raw.offset)) {
    time = received - Math.trunc(raw.offset);
  }
  if (time - received > FUTURE_CUTOFF_MS) time = received;
  if (time < MIN_TIME || time > MAX_TIME) return { error: '"timestamp" is out of range (years 0 to 9999)' };
  return { iso: new Date(time).toISOString() };
}

/**
 * The address of an event, as PostHog's ingestion sets it: the `$ip` the client sent (a `$ip: null`
 * means "none"), else the request's address, which is also written to `properties.$ip` (PostHog's
 * `$ip` property). With `anonymizeIps` nothing is kept and a client's `$ip` is removed.
 * `$geoip_disable` does not stop this (PostHog records `$ip` and skips GeoIP): GeoIP plugins honour it.
 */
export function eventIp(raw: Record<string, unknown>, properties: Record<string, unknown>, context: CaptureContext): string | undefined {
  if (context.anonymizeIps) {
    delete properties.$ip;
    return undefined;
  }
  if ('$ip' in properties) return typeof properties.$ip === 'string' && properties.$ip !== '' ? properties.$ip : undefined;
  const ip = typeof raw.ip === 'string' && raw.ip !== '' ? raw.ip : context.ip;
  if (ip) properties.$ip = ip;
  return ip;
}
