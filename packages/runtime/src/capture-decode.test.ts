// Every body encoding PostHog clients send decodes once, and PostHog's timestamp and $ip rules at capture.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeCaptureBody, MAX_INFLATED_BYTES } from './capture-decode.js';
import { parseCapturePayload } from './capture.js';

const payload = { api_key: 'phc_x', batch: [{ event: 'e', distinct_id: 'u', properties: { text: 'héllo + wörld / ?' } }], sent_at: '2026-01-01T00:00:00.000Z' };
const json = JSON.stringify(payload);
const base64 = Buffer.from(json).toString('base64');
const form = (value: string) => Buffer.from(`data=${encodeURIComponent(value)}`);
const FORM = 'application/x-www-form-urlencoded';

describe('decodeCaptureBody', () => {
  it('decodes each encoding posthog-js and posthog-node send into the same payload', () => {
    const cases: [string, Buffer, string | undefined, string | undefined][] = [
      ['JSON', Buffer.from(json), 'application/json', undefined],
      ['text/plain JSON (a sendBeacon Blob)', Buffer.from(json), 'text/plain;charset=UTF-8', undefined],
      ['gzip-js with the parameter', gzipSync(json), 'text/plain', 'gzip-js'],
      ['gzip-js without the parameter (posthog-js 1.4xx)', gzipSync(json), 'text/plain', undefined],
      ['gzip without a content type', gzipSync(json), undefined, 'gzip'],
      ['base64 form, ?compression=base64 (the fallback and the unload beacon)', form(base64), FORM, 'base64'],
      ['base64 form without the parameter', form(base64), FORM, undefined],
      ['base64 form in a Blob without the form content type', form(base64), 'text/plain', 'base64'],
      ['form with a JSON value', form(json), FORM, undefined],
      ['form whose "+" became spaces (not URL-encoded)', Buffer.from(`data=${base64.replace(/\+/g, ' ')}`), FORM, 'base64'],
      ['base64 body with ?compression=base64', Buffer.from(base64), 'text/plain', 'base64'],
      ['URL-safe base64 body', Buffer.from(base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')), 'text/plain', 'base64'],
      ['JSON body with ?compression=base64', Buffer.from(json), 'application/json', 'base64'],
      ['base64 body without the parameter', Buffer.from(base64), 'text/plain', undefined],
      ['base64 of gzip in a form', form(gzipSync(json).toString('base64')), FORM, undefined],
      ['JSON with a byte order mark', Buffer.from(`\ufeff${json}`), 'application/json', undefined],
    ];
    for (const [name, body, type, compression] of cases) expect(decodeCaptureBody(body, type, compression), name).toEqual(payload);
  });

  it('decodes a base64 form value once: the value is not decoded again because of ?compression=base64', () => {
    // Base64 of a payload whose text is itself valid base64-looking JSON: decoding twice would break it.
    expect(decodeCaptureBody(form(Buffer.from('{"event":"x","distinct_id":"u"}').toString('base64')), FORM, 'base64')).toEqual({ event: 'x', distinct_id: 'u' });
  });

  it('stops a gzip bomb at MAX_INFLATED_BYTES instead of inflating it in memory', () => {
    const bomb = gzipSync(Buffer.alloc(MAX_INFLATED_BYTES + 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(200 * 1024);
    for (const body of [bomb, form(bomb.toString('base64'))]) {
      expect(() => decodeCaptureBody(body, body === bomb ? 'text/plain' : FORM, undefined)).toThrow(expect.objectContaining({ code: 'ERR_PAYLOAD_INVALID', message: `The body inflates to more than ${MAX_INFLATED_BYTES / 1024 / 1024} MiB` }));
    }
  });

  it('refuses what is no payload with ERR_PAYLOAD_INVALID and the reason', () => {
    const refused: [Buffer, string | undefined, string | undefined, RegExp][] = [
      [Buffer.alloc(0), 'application/json', undefined, /empty/],
      [Buffer.from('{nope'), 'application/json', undefined, /not valid JSON/],
      [Buffer.from('not gzip at all'), 'text/plain', 'gzip-js', /not valid gzip/],
      [Buffer.from([0x1f, 0x8b, 1, 2, 3]), 'text/plain', undefined, /not valid gzip/],
      [Buffer.from('a=b'), FORM, undefined, /no "data" field/],
      [Buffer.from('data='), FORM, 'base64', /empty/],
      [form('***not base64***'), FORM, 'base64', /not valid base64/],
      [Buffer.from('%%%'), 'text/plain', 'base64', /not valid base64/],
      [Buffer.from(base64), 'text/plain', 'lz64', /lz64 is not supported/],
      [Buffer.from(json), 'application/json', 'brotli', /Unknown compression/],
    ];
    for (const [body, type, compression, message] of refused) {
      expect(() => decodeCaptureBody(body, type, compression)).toThrow(expect.objectContaining({ code: 'ERR_PAYLOAD_INVALID', message: expect.stringMatching(message) }));
    }
  });
});

describe('PostHog event semantics at capture', () => {
  const now = new Date('2026-06-01T12:00:00.000Z');
  const one = (event: Record<string, unknown>, context: Parameters<typeof parseCapturePayload>[1] = {}, extra: Record<string, unknown> = {}) => {
    const parsed = parseCapturePayload({ batch: [{ distinct_id: 'u', event: 'e', ...event }], ...extra }, { now, ...context });
    expect(parsed.errors).toEqual([]);
    return parsed.events[0]!;
  };

  it('reads numeric timestamps (epoch ms, also as a numeric string) and ISO 8601', () => {
    expect(one({ timestamp: 1_767_225_600_000 }).timestamp).toBe('2026-01-01T00:00:00.000Z');
    expect(one({ timestamp: '1767225600000' }).timestamp).toBe('2026-01-01T00:00:00.000Z');
    expect(one({ timestamp: '2026-01-01T01:00:00+01:00' }).timestamp).toBe('2026-01-01T00:00:00.000Z');
    expect(parseCapturePayload({ event: 'e', distinct_id: 'u', timestamp: 'yesterday' }).errors).toEqual(['(event): "timestamp" must be an ISO 8601 date or epoch milliseconds']);
    expect(parseCapturePayload({ event: 'e', distinct_id: 'u', timestamp: { at: 1 } }).errors).toHaveLength(1);
  });

  it('removes the client clock skew with sent_at: timestamp + (now - sent_at), from the body, the event or ?_=', () => {
    // The client's clock is 10 minutes fast: its timestamp and sent_at are both 10 minutes ahead.
    const skewed = { timestamp: '2026-06-01T12:09:00.000Z' };
    expect(one(skewed, {}, { sent_at: '2026-06-01T12:10:00.000Z' }).timestamp).toBe('2026-06-01T11:59:00.000Z');
    expect(one({ ...skewed, sent_at: '2026-06-01T12:10:00.000Z' }).timestamp).toBe('2026-06-01T11:59:00.000Z');
    expect(one(skewed, { sentAt: Date.parse('2026-06-01T12:10:00.000Z') }).timestamp).toBe('2026-06-01T11:59:00.000Z');
    // The body's sent_at wins over the query's.
    expect(one(skewed, { sentAt: 0 }, { sent_at: '2026-06-01T12:10:00.000Z' }).timestamp).toBe('2026-06-01T11:59:00.000Z');
    // $ignore_sent_at keeps the timestamp as sent (imports); an unreadable sent_at is ignored.
    expect(one({ ...skewed, properties: { $ignore_sent_at: true } }, {}, { sent_at: '2026-06-01T12:10:00.000Z' }).timestamp).toBe('2026-06-01T12:09:00.000Z');
    expect(one(skewed, {}, { sent_at: 'not a date' }).timestamp).toBe('2026-06-01T12:09:00.000Z');
  });

  it('takes offset as "now - offset" when there is no timestamp, and moves far-future times back to now', () => {
    expect(one({ offset: 1500 }).timestamp).toBe('2026-06-01T11:59:58.500Z');
    expect(one({ timestamp: '2026-06-01T11:00:00.000Z', offset: 1500 }).timestamp).toBe('2026-06-01T11:00:00.000Z');
    expect(one({}).timestamp).toBe(now.toISOString());
    expect(one({ timestamp: '2026-06-01T22:00:00.000Z' }).timestamp).toBe('2026-06-01T22:00:00.000Z');
    expect(one({ timestamp: '2026-06-03T12:00:00.000Z' }).timestamp).toBe(now.toISOString());
  });

  it('sets $ip from the request unless the client sent one, $ip: null, or IPs are anonymized', () => {
    expect(one({}, { ip: '203.0.113.9' })).toMatchObject({ ip: '203.0.113.9', properties: { $ip: '203.0.113.9' } });
    expect(one({ properties: { $ip: '198.51.100.1' } }, { ip: '203.0.113.9' })).toMatchObject({ ip: '198.51.100.1', properties: { $ip: '198.51.100.1' } });
    const optedOut = one({ properties: { $ip: null } }, { ip: '203.0.113.9' });
    expect(optedOut.ip).toBeUndefined();
    expect(optedOut.properties.$ip).toBeNull();
    // $geoip_disable does not drop the address (PostHog records it and skips GeoIP; the geoip plugin honours the flag).
    expect(one({ properties: { $geoip_disable: true } }, { ip: '203.0.113.9' })).toMatchObject({ ip: '203.0.113.9', properties: { $geoip_disable: true, $ip: '203.0.113.9' } });
    const anonymized = one({ properties: { $ip: '198.51.100.1' } }, { ip: '203.0.113.9', anonymizeIps: true });
    expect(anonymized.ip).toBeUndefined();
    expect(anonymized.properties).not.toHaveProperty('$ip');
    const noAddress = one({});
    expect(noAddress.ip).toBeUndefined();
    expect(noAddress.properties).not.toHaveProperty('$ip');
  });

  it('names /engage person updates $identify and reads $distinct_id', () => {
    const parsed = parseCapturePayload({ $set: { plan: 'pro' }, $token: 'phc_x', $distinct_id: 'person-1' }, { now, defaultEvent: '$identify' });
    expect(parsed.events[0]).toMatchObject({ event: '$identify', distinct_id: 'person-1', $set: { plan: 'pro' } });
  });
});
