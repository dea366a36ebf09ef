import { mkdtemp, rm } from 'node:fs/promises';
import { createHash, createHmac } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { packPlugin } from '@plugline/cli';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { type RunningRuntime, addPlugin, startRuntime } from '@plugline/runtime';
import pg from 'pg';
import S3rver from 's3rver';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// PostHog-style plugins using the libraries PostHog's plugin server provided (crypto, zlib, stream,
// url, generic-pool, node-fetch's FetchError, pg, the Buffer global), written for these tests, packed
// by the CLI, published to a real registry, installed and run by the real runtime over HTTP, exporting
// to a real HTTP receiver and to the machine's PostgreSQL.
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const adminToken = 'posthog-libraries-admin-token-0123456789';
const silent = pino({ level: 'silent' });
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tableName = `plugline_ph_writer_${Math.random().toString(36).slice(2, 10)}`;
const secret = 'libraries-signing-secret';

let root: string;
let registry: RunningRegistry;
let runtime: RunningRuntime;
let receiver: Server;
let receiverUrl: string;
let deadUrl: string;
const deliveries: { headers: Record<string, string | string[] | undefined>; body: Buffer }[] = [];
// Requests to /webhook: the first answers 503 (the host retries), the next ones 200.
const webhooks: { method: string; url: string; status: number; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
let webhookFailures = 1;
// A real S3-compatible server (s3rver; account S3RVER/S3RVER).
let s3: S3rver;
let s3Url: string;

/**
 * The plugins.json entries of this suite, in one place, with the runtime operator's grants: the
 * destinations are local test servers, so loopback is granted (the egress policy refuses it by
 * default), and postgres to the plugin that uses it.
 */
function pluginEntries(): { name: string; config: Record<string, unknown>; grants: string[] }[] {
  const local = ['net:127.0.0.1'];
  return [
    { name: 'node-libraries', config: { url: receiverUrl, deadUrl, user: 'alice', secret }, grants: local },
    { name: 'postgres-writer', config: { databaseUrl, tableName }, grants: [...local, 'postgres'] },
    { name: 'geo-enricher', config: {}, grants: [] },
    { name: 'webhook-composer', config: { url: receiverUrl.replace('/ingest', '/webhook'), token: 'composer-token' }, grants: local },
    { name: 's3-uploader', config: { awsAccessKey: 'S3RVER', awsSecretAccessKey: 'S3RVER', s3BucketName: 'posthog-events', s3Endpoint: s3Url, prefix: 'ph/' }, grants: local },
  ];
}

/** A call to the runtime's management face (its admin token). */
const management = (route: string) => fetch(`${runtime.url}${route}`, { headers: { authorization: `Bearer ${runtimeToken}` } });
const runtimeToken = 'posthog-libraries-runtime-token';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function capture(event: string, distinctId: string, properties: Record<string, unknown> = {}) {
  const response = await fetch(`${runtime.url}/capture`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api_key: 'phc_test', event, distinct_id: distinctId, properties }),
  });
  expect(response.status).toBe(200);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'plugline-posthog-libraries-'));
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry'), adminToken, logger: silent });
  const client = new RegistryClient({ url: registry.url, token: adminToken });
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url?.startsWith('/webhook')) {
        const status = webhookFailures-- > 0 ? 503 : 200;
        webhooks.push({ method: request.method ?? '', url: request.url, status, headers: request.headers, body: Buffer.concat(chunks).toString() });
        response.writeHead(status).end();
        return;
      }
      deliveries.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/ingest`;
  // A port nothing listens on: the plugin's fetch is refused.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
  await new Promise((resolve) => closed.close(resolve));

  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(root, 's3'), configureBuckets: [{ name: 'posthog-events', configs: [] }] });
  s3Url = `http://127.0.0.1:${((await s3.run()) as AddressInfo).port}`;

  const dir = path.join(root, 'runtime');
  for (const entry of pluginEntries()) {
    const packed = await packPlugin(path.join(fixtures, entry.name), { outDir: path.join(root, 'tarballs'), writeBundle: false, version: '1.0.0' });
    await client.publish(packed.tarball, { name: packed.manifest.name, version: packed.manifest.version });
    await addPlugin(dir, { ...entry, registryUrl: registry.url });
  }
  runtime = await startRuntime({
    dir,
    port: 0,
    adminToken: runtimeToken,
    logger: silent,
    schedule: false,
    exportTickMs: 25,
    exports: { maxEvents: 2, backoffBaseMs: 20, backoffMaxMs: 40 },
    webhookRetry: { attempts: 3, delaysMs: [20] },
  });
});

afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  await new Promise((resolve) => receiver?.close(resolve));
  await s3?.close();
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query(`DROP TABLE IF EXISTS ${tableName}`);
  await db.end();
  await rm(root, { recursive: true, force: true });
});

describe('PostHog plugins using the libraries PostHog provided', () => {
  it('packs crypto, zlib, stream, url, generic-pool and pg as the isolate modules, asking for postgres when pg is imported', async () => {
    const libraries = await packPlugin(path.join(fixtures, 'node-libraries'), { outDir: path.join(root, 'check'), writeBundle: false, version: '1.0.0' });
    expect(libraries.manifest.capabilities).toBeUndefined();
    const writer = await packPlugin(path.join(fixtures, 'postgres-writer'), { outDir: path.join(root, 'check'), writeBundle: false, version: '1.0.0' });
    expect(writer.manifest.capabilities).toEqual(['postgres']);
    const status = ((await (await management(`/api/plugins`)).json()) as { plugins: { name: string; status: string }[] }).plugins;
    expect(status.map((plugin) => [plugin.name, plugin.status])).toEqual([
      ['node-libraries', 'running'],
      ['postgres-writer', 'running'],
      ['geo-enricher', 'running'],
      ['webhook-composer', 'running'],
      ['s3-uploader', 'running'],
    ]);
  });

  it('hashes in processEvent, gives onEvent a mutable copy, and exports a gzip body signed with HMAC and Basic auth from Buffer', async () => {
    await capture('$pageview', 'user-42', { $current_url: 'https://shop.example.com/cart', $set: { plan: 'pro' } });
    await capture('purchase', 'user-43', { amount: 10 });
    const delivery = await waitFor('a delivery', () => deliveries.find((d) => gunzipSync(d.body).toString().includes('"purchase"')));
    expect(delivery.headers.authorization).toBe(`Basic ${Buffer.from(`alice:${secret}`).toString('base64')}`);
    expect(delivery.headers['content-encoding']).toBe('gzip');
    expect(delivery.headers['x-signature']).toBe(createHmac('sha256', secret).update(delivery.body).digest('hex'));
    expect(delivery.headers['x-pool-connection']).toBe('1');
    const lines = gunzipSync(delivery.body).toString().trim().split('\n').map((line) => JSON.parse(line));
    const pageview = deliveries.flatMap((d) => gunzipSync(d.body).toString().trim().split('\n').map((line) => JSON.parse(line))).find((line) => line.event === '$pageview');
    expect(pageview.properties).toMatchObject({
      hashed_id: createHash('sha256').update('user-42').digest('hex'),
      md5_id: createHash('md5').update('user-42').digest('base64'),
      nonce_length: 24,
      trace_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4/),
      landing_host: 'shop.example.com',
    });
    expect(lines.some((line) => line.event === 'purchase')).toBe(true);
    // onEvent deleted $set and added a flag on its own copy; the stored event is unchanged.
    const seen = await waitFor('onEvent', () => runtime.runtime.store.storageGet('node-libraries', 'on_event_$pageview') ?? undefined);
    expect(seen).toMatchObject({ seen_by_on_event: true, landing_host: 'shop.example.com' });
    expect(seen).not.toHaveProperty('$set');
    const stored = (await (await management(`/api/events?event=%24pageview`)).json()) as { events: { properties: Record<string, unknown> }[] };
    expect(stored.events[0]?.properties).toHaveProperty('$set');
    expect(stored.events[0]?.properties).not.toHaveProperty('seen_by_on_event');
  });

  it("rejects a refused fetch with node-fetch's FetchError (name, code, type 'system')", async () => {
    expect(runtime.runtime.store.storageGet('node-libraries', 'dead_fetch')).toEqual({ name: 'FetchError', code: 'ECONNREFUSED', type: 'system', isFetchError: true });
  });

  it("writes exported events to the machine's PostgreSQL through pg's Client and Pool", async () => {
    await capture('signup', 'user-44', { plan: 'free' });
    await runtime.runtime.flushExports();
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const rows = await waitFor('the signup row', async () => {
        const result = await db.query(`SELECT event, distinct_id, properties FROM ${tableName} WHERE event = 'signup'`);
        return result.rows.length > 0 ? result.rows : undefined;
      });
      expect(rows[0]).toMatchObject({ event: 'signup', distinct_id: 'user-44', properties: expect.objectContaining({ plan: 'free' }) });
    } finally {
      await db.end();
    }
  });

  it("uploads gzip batches to S3 (s3rver) with aws-sdk's S3.upload, over the isolate's fetch", async () => {
    await capture('upload_me', 'user-45', { n: 1 });
    await runtime.runtime.flushExports();
    const listing = await waitFor('an object under ph/', async () => {
      const text = await (await fetch(`${s3Url}/posthog-events?prefix=ph/`)).text();
      return /<Key>ph\/[^<]+\.jsonl\.gz<\/Key>/.test(text) ? text : undefined;
    });
    const keys = [...listing.matchAll(/<Key>([^<]+)<\/Key>/g)].map((match) => match[1]!);
    // Stored with Content-Encoding gzip: fetch decodes it (a body that is not gzip would fail here).
    const bodies = await Promise.all(keys.map(async (key) => (await fetch(`${s3Url}/posthog-events/${key}`)).text()));
    const events = bodies.flatMap((body) => body.split('\n').map((line) => JSON.parse(line) as { event: string; distinct_id: string }));
    expect(events.some((event) => event.event === 'upload_me' && event.distinct_id === 'user-45')).toBe(true);
    const logs = ((await (await management(`/api/plugins`)).json()) as { plugins: { name: string; recentLogs: { message: string }[] }[] }).plugins.find((plugin) => plugin.name === 's3-uploader')?.recentLogs;
    expect(logs?.some((line) => line.message.includes(`to ${s3Url}/posthog-events/ph/`))).toBe(true);
  });

  it('sends the webhook composeWebhook composes (method, URL, headers, body) from the host, retrying a 503', async () => {
    const hooks = ((await (await management(`/api/plugins`)).json()) as { plugins: { name: string; hooks: string[] }[] }).plugins.find((plugin) => plugin.name === 'webhook-composer')?.hooks;
    expect(hooks).toEqual(['composeWebhook']);
    await capture('not_a_purchase', 'user-46');
    await capture('order_completed', 'user-46', { amount: 42 });
    const delivered = await waitFor('the webhook', () => webhooks.find((hook) => hook.status === 200));
    expect(webhooks.map((hook) => hook.status)).toEqual([503, 200]);
    expect(delivered).toMatchObject({ method: 'PUT', url: '/webhook?source=posthog', body: JSON.stringify({ event: 'order_completed', distinct_id: 'user-46', amount: 42 }) });
    expect(delivered.headers['x-token']).toBe('composer-token');
    expect(delivered.headers['content-type']).toBe('application/json');
    await runtime.runtime.settle();
    expect(webhooks.every((hook) => !hook.body.includes('not_a_purchase'))).toBe(true);
  });

  it('locates an IP in the MaxMind City shape (continent, city, subdivisions) with the shipped city database', async () => {
    await capture('located', 'user-47', { $ip: '81.2.69.142' });
    const [event] = await waitFor('the located event', async () => {
      const found = ((await (await management(`/api/events?event=located`)).json()) as { events: { properties: Record<string, unknown> }[] }).events;
      return found.length > 0 ? found : undefined;
    });
    expect(event?.properties).toMatchObject({
      geo_city: 'London',
      geo_country_code: 'GB',
      geo_continent_code: 'EU',
      geo_continent_name: 'Europe',
      geo_subdivision_1_name: 'England',
      geo_latitude: expect.closeTo(51.5, 0),
    });
    // DB-IP City Lite has no postal codes for this range: the field is absent, as MaxMind leaves it out.
    expect(event?.properties?.geo_postal_code).toBeNull();
  });
});
