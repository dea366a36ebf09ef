import { randomUUID } from 'node:crypto';
import { type PluginEvent, PluglineError } from '@plugline/sdk';
import { type CaptureContext, eventIp, eventTimestamp, parseSentAt } from './capture-semantics.js';

export { decodeCaptureBody } from './capture-decode.js';
export type { CaptureContext } from './capture-semantics.js';

/** What {@link parseCapturePayload} found: valid events and a reason for each rejected one. */
export interface ParsedCapture {
  events: PluginEvent[];
  errors: string[];
  apiKey?: string;
}

const MAX_UUID_LENGTH = 200;

/**
 * Turns a decoded payload (`{ batch: [...] }`, an array, or one event) into events, keeping every valid
 * one and a `path: reason` for each invalid one. Missing `uuid` is filled in; `timestamp` follows
 * PostHog's rules (see `eventTimestamp`) and `$ip` comes from the request unless the client sent one
 * (see `eventIp`).
 */
export function parseCapturePayload(payload: unknown, context: CaptureContext = {}): ParsedCapture {
  const now = context.now ?? new Date();
  if (typeof payload !== 'object' || payload === null) throw new PluglineError('ERR_PAYLOAD_INVALID', 'The payload must be an event, an array of events or { batch: [...] }');
  const record = payload as Record<string, unknown>;
  let items: unknown[];
  let prefix: string;
  if (Array.isArray(payload)) {
    items = payload;
    prefix = '';
  } else if ('batch' in record) {
    if (!Array.isArray(record.batch)) throw new PluglineError('ERR_PAYLOAD_INVALID', '"batch" must be an array of events');
    items = record.batch;
    prefix = 'batch';
  } else {
    items = [payload];
    prefix = '';
  }
  const apiKey = typeof record.api_key === 'string' ? record.api_key : typeof record.token === 'string' ? record.token : undefined;
  const sentAt = parseSentAt(record.sent_at) ?? context.sentAt;
  const events: PluginEvent[] = [];
  const errors: string[] = [];
  items.forEach((item, index) => {
    const path = items.length === 1 && !prefix && !Array.isArray(payload) ? '(event)' : `${prefix}[${index}]`;
    const result = toEvent(item, context, now, sentAt);
    if (typeof result === 'string') errors.push(`${path}: ${result}`);
    else events.push(result);
  });
  return { events, errors, ...(apiKey ? { apiKey } : {}) };
}

function toEvent(item: unknown, context: CaptureContext, now: Date, sentAt: number | undefined): PluginEvent | string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'must be an object';
  const raw = item as Record<string, unknown>;
  // `/engage` carries person updates without an event name: PostHog stores them as `$identify`.
  const name = raw.event === undefined && context.defaultEvent ? context.defaultEvent : raw.event;
  if (typeof name !== 'string' || name.length === 0) return '"event" must be a non-empty string';
  if (name.length > 400) return '"event" is longer than 400 characters';
  if (raw.properties !== undefined && raw.properties !== null && (typeof raw.properties !== 'object' || Array.isArray(raw.properties))) {
    return '"properties" must be an object';
  }
  const properties = { ...((raw.properties as Record<string, unknown> | null | undefined) ?? {}) };
  const distinct = raw.distinct_id ?? properties.distinct_id ?? raw.$distinct_id;
  if (typeof distinct !== 'string' && typeof distinct !== 'number') return '"distinct_id" must be a string (in the event or its properties)';
  const distinctId = String(distinct);
  if (distinctId.length === 0 || distinctId.length > 400) return '"distinct_id" must have 1 to 400 characters';
  let uuid: string;
  if (raw.uuid === undefined || raw.uuid === null) uuid = randomUUID();
  else if (typeof raw.uuid === 'string' && raw.uuid.length > 0 && raw.uuid.length <= MAX_UUID_LENGTH) uuid = raw.uuid;
  else return '"uuid" must be a string';
  const timestamp = eventTimestamp(raw, properties, now, parseSentAt(raw.sent_at) ?? sentAt);
  if ('error' in timestamp) return timestamp.error;
  const event: PluginEvent = { uuid, event: name, distinct_id: distinctId, properties, timestamp: timestamp.iso };
  const ip = eventIp(raw, properties, context);
  if (ip) event.ip = ip;
  if (typeof raw.team_id === 'number') event.team_id = raw.team_id;
  if (raw.$set && typeof raw.$set === 'object') event.$set = raw.$set as Record<string, unknown>;
  if (raw.$set_once && typeof raw.$set_once === 'object') event.$set_once = raw.$set_once as Record<string, unknown>;
  return event;
}
