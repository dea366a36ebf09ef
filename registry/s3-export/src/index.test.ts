import { mkdtemp, rm } from 'node:fs/promises';
import { type IncomingMessage, type Server, createServer, get, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type PluginEvent, isRetryError } from '@plugline/sdk';
import { createEvent, createMeta, runChain } from '@plugline/sdk/testing';
import S3rver from 's3rver';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import plugin, { groupByDay, objectKey, parseS3Error } from './index.js';

// A real S3-compatible server (s3rver; its account is S3RVER/S3RVER), behind a small proxy that can answer 503 SlowDown to inject a failure.
let s3: S3rver;
let s3Port: number;
let proxy: Server;
let endpoint: string;
let directory: string;
let failNext = 0;
let proxied = 0;

beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'plugline-s3-export-'));
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: 'events', configs: [] }] });
  s3Port = ((await s3.run()) as AddressInfo).port;
  proxy = createServer((incoming, outgoing) => {
    proxied++;
    if (failNext > 0) {
      failNext--;
      incoming.resume();
      outgoing
        .writeHead(503, { 'content-type': 'application/xml' })
        .end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    // Forwarded with the same Host header, so the signature made for the proxy's address still holds.
    const upstream = httpRequest({ host: '127.0.0.1', port: s3Port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await s3.close();
  await rm(directory, { recursive: true, force: true });
});

beforeEach(() => {
  failNext = 0;
  proxied = 0;
});

const baseConfig = () => ({ bucket: 'events', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', endpoint, forcePathStyle: true, region: 'us-east-1', prefix: '' });

/** Raw GET straight from s3rver (anonymous reads are allowed there), without fetch's gzip decoding. */
function getRaw(urlPath: string): Promise<{ status: number; body: Buffer; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: s3Port, path: urlPath }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks), headers: response.headers }));
    }).on('error', reject);
  });
}

async function listKeys(prefix: string): Promise<string[]> {
  const { body } = await getRaw(`/events/?list-type=2&prefix=${encodeURIComponent(prefix)}`);
  return [...body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => match[1]!).sort();
}

async function readObject(key: string): Promise<PluginEvent[]> {
  const { status, body, headers } = await getRaw(`/events/${key}`);
  expect(status).toBe(200);
  expect(headers['content-encoding']).toBe('gzip');
  const lines = gunzipSync(body).toString('utf8').split('\n');
  expect(lines.pop()).toBe('');
  return lines.map((line) => JSON.parse(line) as PluginEvent);
}

const exportBatch = (events: PluginEvent[], config: Record<string, unknown>) => plugin.exportEvents!(events, createMeta({ config }) as never);

describe('s3-export', () => {
  it('writes one gzip JSON Lines object per UTC day, keyed by date', async () => {
    const events = [
      createEvent({ event: 'a', timestamp: '2026-01-01T10:00:00.000Z', properties: { n: 1 } }),
      createEvent({ event: 'b', timestamp: '2026-01-02T00:00:01.000Z' }),
      createEvent({ event: 'c', timestamp: '2026-01-01T23:59:59.999Z', properties: { text: 'ünïcödé ✓' } }),
    ];
    const { errors, metas } = await runChain([{ plugin, name: 's3-export', config: { ...baseConfig(), prefix: 'run1/' } }], events);
    expect(errors).toEqual([]);
    const keys = await listKeys('run1/');
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^run1\/2026\/01\/01\/20260101T100000Z-[0-9a-f]{16}\.jsonl\.gz$/);
    expect(keys[1]).toMatch(/^run1\/2026\/01\/02\/20260102T000001Z-[0-9a-f]{16}\.jsonl\.gz$/);
    expect(await readObject(keys[0]!)).toEqual([events[0], events[2]]);
    expect(await readObject(keys[1]!)).toEqual([events[1]]);
    expect(metas.get('s3-export')?.metricValues.get('objects_written')).toBe(2);
  });

  it('throws RetryError on a 503, and the retry writes the same object once', async () => {
    const events = [createEvent({ event: 'retry', timestamp: '2026-02-03T04:05:06.000Z' })];
    const config = { ...baseConfig(), prefix: 'run2/' };
    failNext = 1;
    const first = exportBatch(events, config);
    await expect(first).rejects.toSatisfy(isRetryError);
    await expect(first).rejects.toThrow(/PUT s3:\/\/events\/run2\/2026\/02\/03\/.* answered HTTP 503 SlowDown: Please reduce your request rate\./);
    expect(await listKeys('run2/')).toEqual([]);
    await exportBatch(events, config);
    // A retry of a batch that had in fact landed overwrites the same key instead of duplicating.
    await exportBatch(events, config);
    const keys = await listKeys('run2/');
    expect(keys).toHaveLength(1);
    expect(await readObject(keys[0]!)).toEqual(events);
    expect(proxied).toBe(3);
  });

  it('reports a retry through the harness when S3 is throttling', async () => {
    failNext = 1;
    const { errors } = await runChain([{ plugin, name: 's3-export', version: '1.0.0', config: { ...baseConfig(), prefix: 'run3/' } }], [createEvent()]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/^s3-export@1\.0\.0 exportEvents: retry requested: PUT s3:\/\/events\/run3\/.* answered HTTP 503 SlowDown/);
  });

  it('fails permanently on an unknown access key, without leaking the secret', async () => {
    // s3rver checks the access key but not SigV4 signatures themselves (the AWS SDK signs the requests).
    const attempt = exportBatch([createEvent()], { ...baseConfig(), accessKeyId: 'UNKNOWNKEY', secretAccessKey: 'not-the-secret', prefix: 'run4/' });
    await expect(attempt).rejects.toThrow(/answered HTTP 403 InvalidAccessKeyId/);
    await expect(attempt).rejects.not.toSatisfy(isRetryError);
    await expect(attempt).rejects.not.toThrow(/not-the-secret/);
  });

  it('fails permanently on a missing bucket', async () => {
    const attempt = exportBatch([createEvent()], { ...baseConfig(), bucket: 'no-such-bucket' });
    await expect(attempt).rejects.toThrow(/PUT s3:\/\/no-such-bucket\/.* answered HTTP 404 NoSuchBucket/);
    await expect(attempt).rejects.not.toSatisfy(isRetryError);
  });

  it('asks for a retry when S3 cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadEndpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(exportBatch([createEvent()], { ...baseConfig(), endpoint: deadEndpoint })).rejects.toSatisfy(isRetryError);
  });

  it('builds path-style and virtual-hosted URLs with encoded keys', async () => {
    const urls: string[] = [];
    const recordingFetch = (async (url: string | URL | Request) => {
      urls.push(String(url));
      return new Response(null, { status: 200 });
    }) as typeof fetch;
    const events = [createEvent({ timestamp: '2026-01-01T00:00:00.000Z' })];
    const config = { ...baseConfig(), prefix: 'a b+c/' };
    await plugin.exportEvents!(events, createMeta({ config: { ...config, endpoint: undefined, region: 'eu-west-1', forcePathStyle: false }, fetch: recordingFetch }) as never);
    await plugin.exportEvents!(events, createMeta({ config: { ...config, endpoint: 'http://localhost:9000/' }, fetch: recordingFetch }) as never);
    expect(urls).toHaveLength(2);
    expect(urls[0]).toMatch(/^https:\/\/events\.s3\.eu-west-1\.amazonaws\.com\/a%20b%2Bc\/2026\/01\/01\/20260101T000000Z-[0-9a-f]{16}\.jsonl\.gz(\?x-id=PutObject)?$/);
    expect(urls[1]).toMatch(/^http:\/\/localhost:9000\/events\/a%20b%2Bc\/2026\/01\/01\/20260101T000000Z-[0-9a-f]{16}\.jsonl\.gz(\?x-id=PutObject)?$/);
  });

  it('keys the same events the same way, and puts undated events on the export day', () => {
    const now = new Date('2026-05-06T07:08:09.000Z');
    const events = [createEvent({ timestamp: 'not a date' })];
    expect([...groupByDay(events, now).keys()]).toEqual(['2026/05/06']);
    expect(objectKey('p/', '2026/05/06', events, now)).toBe(objectKey('p/', '2026/05/06', structuredClone(events), now));
    expect(parseS3Error('<Error><Code>AccessDenied</Code><Message>no</Message></Error>')).toEqual({ code: 'AccessDenied', message: 'no' });
  });

  it('requires bucket and credentials and rejects bad prefixes and endpoints with ERR_CONFIG_INVALID', async () => {
    const { secretAccessKey: _secret, ...withoutSecret } = baseConfig();
    for (const config of [withoutSecret, { ...baseConfig(), prefix: 'no-slash' }, { ...baseConfig(), endpoint: 'http://host/path' }, { ...baseConfig(), bucket: 'Bad_Bucket' }]) {
      await expect(runChain([{ plugin, config }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
  });
});
