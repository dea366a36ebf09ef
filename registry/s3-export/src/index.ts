import { Sha256 } from '@aws-crypto/sha256-js';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type PluginEvent, RetryError, definePlugin } from '@plugline/sdk';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { gzipSync, strToU8 } from 'fflate';
import { S3AnswerError, sandboxFetchHandler } from './fetch-handler.js';

export { parseS3Error } from './fetch-handler.js';

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
  const digest = bytesToHex(sha256(strToU8(events.map((event) => event.uuid).join('\n')))).slice(0, 16);
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

const retryableCodes = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests', 'RequestTimeout', 'ServiceUnavailable', 'InternalError']);

/** Should the runtime retry after this S3 answer? 5xx, 429 and throttling codes. */
export const isRetryableS3Answer = (status: number, code: string | undefined): boolean =>
  status >= 500 || status === 429 || (code !== undefined && retryableCodes.has(code));

/**
 * Turns a failed PutObject into the error the runtime acts on: an S3 answer keeps its status, code and
 * message (`RetryError` when retryable), a request that got no answer (network failure) is retried.
 */
export function describeFailure(where: string, error: unknown): Error {
  if (error instanceof S3AnswerError) {
    const reason = `${where} answered HTTP ${error.status}${error.code ? ` ${error.code}` : ''}${error.s3Message ? `: ${error.s3Message}` : ''}`;
    return isRetryableS3Answer(error.status, error.code) ? new RetryError(reason) : new Error(reason);
  }
  return new RetryError(`${where} failed: ${(error as Error).message}`);
}

/**
 * Exports each batch of stored events to an S3 bucket (or an S3-compatible store) as gzip-compressed
 * JSON Lines, one object per UTC day of the events, keyed `<prefix>YYYY/MM/DD/...jsonl.gz`. Requests
 * are made with the AWS SDK v3 (`S3Client`, `PutObjectCommand`) over the host's fetch, so the plugin
 * runs in a bare V8 isolate. 5xx, 429 and throttling answers and network failures throw `RetryError` (the runtime
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
      accessKeyId: { type: 'string', minLength: 1, writeOnly: true, description: 'Access key id of a key allowed to s3:PutObject on the bucket. Never shown after it is set.' },
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
    const client = new S3Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      credentials: {
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
        ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
      },
      // The sandbox has no timers, so the SDK does not retry: RetryError hands retries to the runtime.
      maxAttempts: 1,
      // The sandbox has no crypto.subtle, Request, AbortController or streams: pure-JS hashing, and
      // requests go through meta.fetch (host-bridged).
      sha256: Sha256,
      requestHandler: sandboxFetchHandler(fetch),
      streamCollector: async (body: unknown) => (body instanceof Uint8Array ? body : new Uint8Array()),
      // Checksums only where S3 requires them (not for PutObject); the gzip body is hashed for SigV4 anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // With one attempt the SDK's retry middleware has nothing to do, and on an error it checks the body
    // against `ReadableStream`, which the sandbox does not have: a pass-through takes its place (other
    // middleware is positioned relative to its name).
    client.middlewareStack.add((next) => (args) => next(args), {
      name: 'retryMiddleware',
      step: 'finalizeRequest',
      priority: 'high',
      tags: ['RETRY'],
      override: true,
    });
    // PutObjectCommand brings a middleware that re-wraps every 2xx body in a ReadableStream (to find
    // errors S3 hides in 200 answers to CopyObject and CompleteMultipartUpload, not PutObject). The
    // sandbox has no ReadableStream, and a command's middleware joins the client's at send time, so it
    // is dropped from the joined stack.
    const joinStacks = client.middlewareStack.concat.bind(client.middlewareStack);
    client.middlewareStack.concat = (from) => {
      const joined = joinStacks(from);
      joined.remove('throw200ExceptionsMiddleware');
      return joined;
    };
    const now = new Date();
    try {
      for (const [day, group] of groupByDay(events, now)) {
        const key = objectKey(config.prefix, day, group, now);
        const body = encodeJsonLines(group);
        try {
          await client.send(
            new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }),
          );
        } catch (error) {
          throw describeFailure(`PUT s3://${config.bucket}/${key}`, error);
        }
        metrics.increment('objects_written');
        logger.debug('wrote an object', { key, events: group.length, bytes: body.byteLength });
      }
    } finally {
      client.destroy();
    }
    metrics.increment('events_exported', events.length);
  },
});
