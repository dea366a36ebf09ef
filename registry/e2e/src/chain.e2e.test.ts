import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer, get, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { RunningRegistry } from '@plugline/registry';
import { type RunningRuntime, addPlugin } from '@plugline/runtime';
import type { PluginEvent } from '@plugline/sdk';
import { pino } from 'pino';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminInit, registryWithPlugins, startTestRuntime, waitFor } from './harness.js';

const chain = ['geoip', 'labeler', 'hello-world', 'property-filter', 's3-export'] as const;
const adminToken = 'e2e-admin-token-0123456789abcdef';
const silent = pino({ level: 'silent' });

let root: string;
let registry: RunningRegistry;
let s3: S3rver;
let s3Port: number;
let proxy: Server;
let runtime: RunningRuntime | undefined;
let failNext = 1;
let putAttempts = 0;

/** GET straight from s3rver (anonymous reads are allowed), without fetch's gzip decoding. */
function getRaw(urlPath: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: s3Port, path: urlPath }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks)));
    }).on('error', reject);
  });
}

const listKeys = async (prefix: string) =>
  [...(await getRaw(`/events/?list-type=2&prefix=${encodeURIComponent(prefix)}`)).toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => match[1]!);


beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'plugline-plugins-e2e-'));
  // Packed by the CLI exactly as `plugline pack` does (one ESM bundle per plugin), then published.
  registry = await registryWithPlugins({ root, names: chain, adminToken, logger: silent });

  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(root, 's3'), configureBuckets: [{ name: 'events', configs: [] }] });
  s3Port = ((await s3.run()) as AddressInfo).port;
  // In front of S3: the first PUT gets 503 SlowDown, so the runtime has to retry the batch.
  proxy = createServer((incoming, outgoing) => {
    if (incoming.method === 'PUT') putAttempts++;
    if (incoming.method === 'PUT' && failNext > 0) {
      failNext--;
      incoming.resume();
      outgoing.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: s3Port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const runtimeDir = path.join(root, 'runtime');
  const configs: Record<(typeof chain)[number], Record<string, unknown>> = {
    geoip: {},
    labeler: { rules: [{ label: 'us-visitor', event: '$pageview', conditions: [{ property: '$geoip_country_code', operator: 'eq', value: 'US' }] }] },
    'hello-world': {},
    'property-filter': { properties: ['$geoip_latitude', '$geoip_longitude', 'account.token'] },
    's3-export': { bucket: 'events', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', endpoint, forcePathStyle: true, prefix: 'e2e/' },
  };
  // The runtime refuses loopback by default: s3-export is granted the local S3 endpoint explicitly.
  const grants: Partial<Record<(typeof chain)[number], string[]>> = { 's3-export': [`net:${new URL(endpoint).host}`] };
  for (const name of chain) await addPlugin(runtimeDir, { name, spec: 'latest', config: configs[name], registryUrl: registry.url, grants: grants[name] ?? [] });
  runtime = await startTestRuntime({ dir: runtimeDir, registryUrl: registry.url, logger: silent, maxEvents: 2 });
});

afterAll(async () => {
  await runtime?.close();
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await s3.close();
  await registry.close();
  await rm(root, { recursive: true, force: true });
});

describe('official plugins through the registry and the runtime', () => {
  it('runs geoip -> labeler -> hello-world -> property-filter, stores the events and exports them to S3 after a 503', async () => {
    const batch = [
      { event: '$pageview', distinct_id: 'ada', ip: '8.8.8.8', properties: { $current_url: 'https://example.com/', account: { token: 'tok_123', plan: 'pro' } } },
      { event: 'signed_up', distinct_id: 'bob', ip: '81.2.69.142', properties: { plan: 'free' } },
    ];
    const sent = await fetch(`${runtime!.url}/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
    expect(sent.status).toBe(200);

    const stored = await waitFor('stored events', async () => {
      const { events } = (await (await fetch(`${runtime!.url}/api/events?order=asc`, adminInit(runtime!))).json()) as { events: PluginEvent[] };
      return events.length === 2 ? events : undefined;
    });
    // On failure, say what the plugins reported.
    const report = JSON.stringify(((await (await fetch(`${runtime!.url}/api/plugins`, adminInit(runtime!))).json()) as { plugins: { name: string; recentErrors: unknown[] }[] }).plugins.map((plugin) => [plugin.name, plugin.recentErrors]));
    const pageview = stored.find((event) => event.event === '$pageview');
    const signup = stored.find((event) => event.event === 'signed_up');
    // geoip ran first (the labeler saw its country), hello-world ran, and the filter ran last.
    expect(pageview?.properties, report).toMatchObject({ $geoip_country_code: 'US', $geoip_city_name: 'Mountain View', $geoip_continent_code: 'NA', label: 'us-visitor', hello: 'world', account: { plan: 'pro' } });
    expect(signup?.properties).toMatchObject({ $geoip_country_code: 'GB', $geoip_city_name: 'London', $geoip_subdivision_1_name: 'England', hello: 'world', plan: 'free' });
    expect(signup?.properties).not.toHaveProperty('label');
    for (const event of stored) {
      expect(event.properties).not.toHaveProperty('$geoip_latitude');
      expect(event.properties).not.toHaveProperty('$geoip_longitude');
      expect(event.$set ?? {}).not.toHaveProperty('$geoip_latitude');
    }
    expect(pageview?.properties.account).toEqual({ plan: 'pro' });

    // The export: the first PUT got 503, the runtime retried, and S3 holds the chain's output.
    const keys = await waitFor('the exported object', async () => {
      const found = await listKeys('e2e/');
      return found.length > 0 ? found : undefined;
    });
    const exported: PluginEvent[] = [];
    for (const key of keys) {
      const lines = gunzipSync(await getRaw(`/events/${key}`)).toString('utf8').trim().split('\n');
      exported.push(...lines.map((line) => JSON.parse(line) as PluginEvent));
    }
    expect(failNext).toBe(0);
    expect(putAttempts).toBeGreaterThanOrEqual(2);
    expect(exported.map((event) => event.uuid).sort()).toEqual(stored.map((event) => event.uuid).sort());
    for (const event of exported) {
      expect(event.properties).toMatchObject({ hello: 'world' });
      expect(event.properties.$geoip_country_code).toMatch(/^(US|GB)$/);
      expect(event.properties).not.toHaveProperty('$geoip_latitude');
      expect(JSON.stringify(event)).not.toContain('tok_123');
    }
    expect(keys.every((key) => /^e2e\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z-[0-9a-f]{16}\.jsonl\.gz$/.test(key))).toBe(true);

    const { plugins } = (await (await fetch(`${runtime!.url}/api/plugins`, adminInit(runtime!))).json()) as {
      plugins: { name: string; status: string; config: Record<string, unknown>; recentErrors: { message: string }[] }[];
    };
    expect(plugins.map((plugin) => [plugin.name, plugin.status])).toEqual(chain.map((name) => [name, 'running']));
    const s3Export = plugins.find((plugin) => plugin.name === 's3-export');
    expect(s3Export?.config.secretAccessKey).toBe('********');
    expect(s3Export?.recentErrors.map((error) => error.message).join('\n')).toMatch(/503 SlowDown/);
  });
});
