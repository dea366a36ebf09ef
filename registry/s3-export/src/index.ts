import { type PluginEvent, RetryError, definePlugin } from '@plugline/sdk';
import { gzipSync, strToU8 } from 'fflate';
import { type AwsCredentials, encodeRfc3986, hashPayload, signRequest } from './sigv4.js';

const pad = (n: number) => String(n).padStart(2, '0');

/** The UTC day of an event (its `timestamp`), or of `fallback` when the timestamp is not a date. */
export function eventDay(event: PluginEvent, fallback: Date): Date {
  const date = new Date(event.timestamp);
  return Number.isNaN(date.getTime()) ? fallback : date;
}

/** Splits a batch into one group per UTC day (`YYYY/MM/DD`), keeping order within each group. */
export function groupByDay(events: readonly PluginEvent[], now: Date): Map<string, PluginEvent[]> {
  const groups = new Map<string, PluginEvent[]>();
  for (const event of events) {
    const day = eventDay(event, now);
    const key = `${day.getUTCFullYear()}/${pad(day.getUTCMonth() + 1)}/${pad(day.getUTCDate())}`;
    const group = groups.get(key) ?? [];
    group.push(event);
    groups.set(key, group);
  }
  return groups;
}

/**
 * The object key of one day's events: `<prefix>YYYY/MM/DD/<first timestamp>-<hash of the uuids>.jsonl.gz`.
 * The same events always get the same key, so a retried batch overwrites instead of duplicating.
 */
export function objectKey(prefix: string, day: string, events: readonly PluginEvent[], now: Date): string {
  const digest = hashPayload(events.map((event) => event.uuid).join('\n')).slice(0, 16);
  const first = eventDay(events[0]!, now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${prefix}${day}/${first}-${digest}.jsonl.gz`;
}

/** Gzip-compressed JSON Lines: one event per line. */
export function encodeJsonLines(events: readonly PluginEvent[]): Uint8Array {
  return gzipSync(strToU8(`${events.map((event) => JSON.stringify(event)).join('\n')}\n`));
}

/** Where to PUT an object: path style (`endpoint/bucket/key`) or virtual-hosted (`bucket.host/key`). */
export function objectUrl(options: { bucket: string; key: string; region: string; endpoint?: string | undefined; forcePathStyle: boolean }): URL {
  const base = new URL(options.endpoint ?? `https://s3.${options.region}.amazonaws.com`);
  const path = options.key.split('/').map(encodeRfc3986).join('/');
  if (options.forcePathStyle) return new URL(`${base.protocol}//${base.host}/${encodeRfc3986(options.bucket)}/${path}`);
  return new URL(`${base.protocol}//${options.bucket}.${base.host}/${path}`);
}

const retryableCodes = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests', 'RequestTimeout', 'ServiceUnavailable', 'InternalError']);

/** Reads `<Code>` and `<Message>` from an S3 XML error body. */
export function parseS3Error(body: string): { code?: string; message?: string } {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
  return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
}

/** Should the runtime retry after this S3 answer? 5xx, 429 and throttling codes. */
export const isRetryableS3Answer = (status: number, code: string | undefined): boolean =>
  status >= 500 || status === 429 || (code !== undefined && retryableCodes.has(code));

/**
 * Exports each batch of stored events to an S3 bucket (or an S3-compatible store) as gzip-compressed
 * JSON Lines, one object per UTC day of the events, keyed `<prefix>YYYY/MM/DD/...jsonl.gz`. Requests
 * are signed with AWS Signature Version 4 and sent with the host's fetch, so the plugin runs in a bare
 * V8 isolate. 5xx, 429 and throttling answers and network failures throw `RetryError` (the runtime
 * retries with backoff); errors such as a wrong key or a missing bucket are permanent.
 */
export default definePlugin({
  config: {
    type: 'object',
    required: ['bucket', 'accessKeyId', 'secretAccessKey'],
    properties: {
      bucket: {
        type: 'string',
        pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
        description: 'The bucket the objects are written to.',
      },
      region: { type: 'string', minLength: 1, default: 'us-east-1', description: 'The bucket region (signing region for S3-compatible stores).' },
      accessKeyId: { type: 'string', minLength: 1, description: 'Access key id of a key allowed to s3:PutObject on the bucket.' },
      secretAccessKey: { type: 'string', minLength: 1, writeOnly: true, description: 'The secret of the access key. Never shown after it is set.' },
      sessionToken: { type: 'string', writeOnly: true, description: 'Session token, for temporary credentials.' },
      prefix: {
        type: 'string',
        default: '',
        pattern: '^$|^[^/].*/$',
        description: 'Key prefix ending in "/", e.g. "plugline/events/". Empty for the bucket root.',
      },
      endpoint: {
        type: 'string',
        format: 'uri',
        pattern: '^https?://[^/]+/?$',
        description: 'Endpoint of an S3-compatible store (MinIO, R2, ...), e.g. "http://127.0.0.1:9000". Unset for AWS.',
      },
      forcePathStyle: {
        type: 'boolean',
        default: false,
        description: 'Address the bucket in the path (http://host/bucket/key) instead of the host name; most S3-compatible stores need it.',
      },
    },
  },
  async exportEvents(events, { config, fetch, logger, metrics }) {
    const credentials: AwsCredentials = {
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      sessionToken: config.sessionToken,
    };
    const now = new Date();
    for (const [day, group] of groupByDay(events, now)) {
      const key = objectKey(config.prefix, day, group, now);
      const url = objectUrl({ ...config, key });
      const body = encodeJsonLines(group);
      const headers = signRequest({
        method: 'PUT',
        url,
        headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
        payloadHash: hashPayload(body),
        credentials,
        region: config.region,
        date: new Date(),
      });
      // fetch sets Host from the URL (the same value that was signed).
      delete headers.host;
      const where = `PUT s3://${config.bucket}/${key}`;
      let response: Response;
      try {
        response = await fetch(url.href, { method: 'PUT', headers, body });
      } catch (error) {
        throw new RetryError(`${where} failed: ${(error as Error).message}`);
      }
      if (!response.ok) {
        const { code, message } = parseS3Error(await response.text().catch(() => ''));
        const reason = `${where} answered HTTP ${response.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
        throw isRetryableS3Answer(response.status, code) ? new RetryError(reason) : new Error(reason);
      }
      metrics.increment('objects_written');
      logger.debug('wrote an object', { key, events: group.length, bytes: body.byteLength });
    }
    metrics.increment('events_exported', events.length);
  },
});
