import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { type PluginEvent, PluglineError } from '@plugline/sdk';
import { MAX_INFLATED_BYTES } from './limits.js';

/** What {@link parseCapturePayload} found: valid events and a reason for each rejected one. */
export interface ParsedCapture {
  events: PluginEvent[];
  errors: string[];
  apiKey?: string;
}

/**
 * Decodes a capture request body as PostHog clients send it: JSON, gzip (`?compression=gzip-js` or a
 * gzip magic number; `Content-Encoding: gzip` is undone by the body parser), base64, or a form body with
 * `data=`. Throws `ERR_PAYLOAD_INVALID` when the body is not a JSON payload at all.
 */
export function decodeCaptureBody(body: Buffer, contentType: string | undefined, compression: string | undefined): unknown {
  let bytes = body;
  if (bytes.length === 0) throw new PluglineError('ERR_PAYLOAD_INVALID', 'The request body is empty');
  let text: string | undefined;
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(bytes.toString('utf8'));
    const data = form.get('data');
    if (data === null) throw new PluglineError('ERR_PAYLOAD_INVALID', 'The form body has no "data" field');
    compression ??= form.get('compression') ?? undefined;
    const trimmed = data.trim();
    bytes = trimmed.startsWith('{') || trimmed.startsWith('[') ? Buffer.from(trimmed) : Buffer.from(trimmed, 'base64');
  }
  if (compression === 'gzip-js' || compression === 'gzip' || (bytes[0] === 0x1f && bytes[1] === 0x8b)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_INFLATED_BYTES });
    } catch (error) {
      throw new PluglineError('ERR_PAYLOAD_INVALID', `The body is not valid gzip: ${(error as Error).message}`);
    }
  } else if (compression === 'base64') {
    bytes = Buffer.from(bytes.toString('utf8'), 'base64');
  }
  text = bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PluglineError('ERR_PAYLOAD_INVALID', `The body is not valid JSON: ${(error as Error).message}`);
  }
}

const MAX_UUID_LENGTH = 200;

/**
 * Turns a decoded payload (`{ batch: [...] }`, an array, or one event) into events, keeping every valid
 * one and a `path: reason` for each invalid one. Missing `uuid` and `timestamp` are filled in.
 */
export function parseCapturePayload(payload: unknown, context: { ip?: string; now?: Date } = {}): ParsedCapture {
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
  const sentAt = typeof record.sent_at === 'string' ? Date.parse(record.sent_at) : Number.NaN;
  const events: PluginEvent[] = [];
  const errors: string[] = [];
  items.forEach((item, index) => {
    const path = items.length === 1 && !prefix && !Array.isArray(payload) ? '(event)' : `${prefix}[${index}]`;
    const result = toEvent(item, { now, sentAt, ip: context.ip });
    if (typeof result === 'string') errors.push(`${path}: ${result}`);
    else events.push(result);
  });
  return { events, errors, ...(apiKey ? { apiKey } : {}) };
}

function toEvent(item: unknown, context: { now: Date; sentAt: number; ip: string | undefined }): PluginEvent | string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'must be an object';
  const raw = item as Record<string, unknown>;
  if (typeof raw.event !== 'string' || raw.event.length === 0) return '"event" must be a non-empty string';
  if (raw.event.length > 400) return '"event" is longer than 400 characters';
  if (raw.properties !== undefined && (typeof raw.properties !== 'object' || raw.properties === null || Array.isArray(raw.properties))) {
    return '"properties" must be an object';
  }
  const properties = { ...((raw.properties as Record<string, unknown> | undefined) ?? {}) };
  const distinct = raw.distinct_id ?? properties.distinct_id ?? raw.$distinct_id;
  if (typeof distinct !== 'string' && typeof distinct !== 'number') return '"distinct_id" must be a string (in the event or its properties)';
  const distinctId = String(distinct);
  if (distinctId.length === 0 || distinctId.length > 400) return '"distinct_id" must have 1 to 400 characters';
  let uuid: string;
  if (raw.uuid === undefined || raw.uuid === null) uuid = randomUUID();
  else if (typeof raw.uuid === 'string' && raw.uuid.length > 0 && raw.uuid.length <= MAX_UUID_LENGTH) uuid = raw.uuid;
  else return '"uuid" must be a string';
  let timestamp: string;
  if (raw.timestamp === undefined || raw.timestamp === null) {
    const offset = typeof raw.offset === 'number' && Number.isFinite(raw.offset) ? raw.offset : 0;
    timestamp = new Date(context.now.getTime() - offset).toISOString();
  } else if (typeof raw.timestamp === 'string' && !Number.isNaN(Date.parse(raw.timestamp))) {
    timestamp = new Date(Date.parse(raw.timestamp)).toISOString();
  } else return '"timestamp" must be an ISO 8601 date';
  const event: PluginEvent = { uuid, event: raw.event, distinct_id: distinctId, properties, timestamp };
  const ip = typeof raw.ip === 'string' ? raw.ip : typeof properties.$ip === 'string' ? properties.$ip : context.ip;
  if (ip) event.ip = ip;
  if (typeof raw.team_id === 'number') event.team_id = raw.team_id;
  if (raw.$set && typeof raw.$set === 'object') event.$set = raw.$set as Record<string, unknown>;
  if (raw.$set_once && typeof raw.$set_once === 'object') event.$set_once = raw.$set_once as Record<string, unknown>;
  return event;
}
