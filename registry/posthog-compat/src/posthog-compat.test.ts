import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { bundlePlugin, packPlugin } from '@plugline/cli';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { packPlugin as packRawTarball } from '@plugline/registry/testing';
import { MemoryCache, PluginSandbox, batchEventsJson, type RunningRuntime, addPlugin, createSandboxHost, installPlugin, startRuntime } from '@plugline/runtime';
import type { PluginEvent } from '@plugline/sdk';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Five plugins written in PostHog's format (plugin.json with a config array, TypeScript importing
// @posthog/plugin-scaffold) are packed by the CLI, published to a real registry, installed and run by
// the real runtime, with events sent over HTTP.
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const chain = ['property-tagger', 'lookup-table', 'job-scheduler', 'event-counter', 'webhook-exporter', 'archive-exporter'] as const;
const adminToken = 'posthog-compat-admin-token-0123456789';
const silent = pino({ level: 'silent' });
const csv = 'from,to\nChrome,chromium\nFirefox,gecko\n';

let root: string;
let registry: RunningRegistry;
let client: RegistryClient;
let receiver: Server;
let receiverUrl: string;
let runtime: RunningRuntime;
const deliveries: { status: number; authorization: string | undefined; events: { event: string; uuid: string }[] }[] = [];
let failNext = 1;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
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

/** Management calls need the runtime's admin token (generated into its folder). */
function admin(): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${runtime.adminToken}` } };
}

async function events(event: string): Promise<PluginEvent[]> {
  const response = await fetch(`${runtime.url}/api/events?event=${encodeURIComponent(event)}&limit=100`, admin());
  return ((await response.json()) as { events: PluginEvent[] }).events;
}

interface PluginStatus {
  name: string;
  status: string;
  hooks: string[];
  config: Record<string, unknown>;
  recentLogs: { level: string; message: string }[];
  recentErrors: { message: string }[];
}

async function plugins(): Promise<PluginStatus[]> {
  return ((await (await fetch(`${runtime.url}/api/plugins`, admin())).json()) as { plugins: PluginStatus[] }).plugins;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'plugline-posthog-compat-'));
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry'), adminToken, logger: silent });
  client = new RegistryClient({ url: registry.url, token: adminToken });

  // The webhook endpoint: 503 once (the plugin throws RetryError), then 200.
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = failNext-- > 0 ? 503 : 200;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { batch: { event: string; uuid: string }[] };
      deliveries.push({ status, authorization: request.headers.authorization, events: body.batch });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  for (const name of chain) {
    // property-tagger takes its version from package.json; the others from the option (PostHog has none).
    const packed = await packPlugin(path.join(fixtures, name), {
      outDir: path.join(root, 'tarballs'),
      writeBundle: false,
      ...(name === 'property-tagger' ? {} : { version: '1.0.0' }),
    });
    await client.publish(packed.tarball, { name: packed.manifest.name, version: packed.manifest.version });
  }

  const dir = path.join(root, 'runtime');
  const configs: Record<(typeof chain)[number], Record<string, unknown>> = {
    'property-tagger': { extraProperties: '{"source":"posthog"}' },
    'lookup-table': { table: { file_name: 'browsers.csv', content_type: 'text/csv', contents: csv } },
    'job-scheduler': {},
    'event-counter': {},
    'webhook-exporter': { url: receiverUrl, authMode: 'token', token: 'sekret-token', exportEventsBufferBytes: '1', exportEventsToIgnore: 'ignored_event' },
    'archive-exporter': {},
  };
  // The runtime refuses loopback by default: the exporter is granted its local receiver explicitly.
  const grants: Partial<Record<(typeof chain)[number], string[]>> = { 'webhook-exporter': [`net:${new URL(receiverUrl).host}`] };
  for (const name of chain) await addPlugin(dir, { name, config: configs[name], registryUrl: registry.url, grants: grants[name] ?? [] });
  runtime = await startRuntime({
    dir,
    port: 0,
    logger: silent,
    schedule: false,
    exportTickMs: 25,
    // Small export batches by default (2 events), so that handlesLargeBatches (10x) is visible.
    exports: { maxEvents: 2, backoffBaseMs: 20, backoffMaxMs: 40 },
    setupRetryDelaysMs: [20, 20, 20, 20],
  });
});

afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  await new Promise((resolve) => receiver?.close(resolve));
  await rm(root, { recursive: true, force: true });
});

describe('packing and publishing PostHog plugins', () => {
  it('writes the converted manifest as plugin.json and keeps the original as posthog.plugin.json', async () => {
    const packed = await packPlugin(path.join(fixtures, 'webhook-exporter'), { outDir: path.join(root, 'check'), writeBundle: false, version: '2.0.0' });
    expect(packed.files).toEqual(['package/dist/index.js', 'package/plugin.json', 'package/posthog.plugin.json']);
    const tar = gunzipSync(packed.tarball).toString('latin1');
    expect(tar).toContain('"required_if"');
    const manifest = packed.manifest;
    expect(manifest).toMatchObject({ name: 'webhook-exporter', version: '2.0.0', main: 'dist/index.js', keywords: ['posthog'] });
    const properties = manifest.config.properties ?? {};
    expect(properties.token).toMatchObject({ type: 'string', writeOnly: true, 'x-visible-if': [['authMode', 'token']] });
    expect(properties.authMode).toMatchObject({ type: 'string', enum: ['none', 'token'], default: 'none' });
    expect(properties.url).toMatchObject({ type: 'string', minLength: 1 });
    // required_if [['authMode', 'token']] -> if authMode is "token" then token is required.
    const [condition] = (manifest.config.allOf ?? []) as Record<string, unknown>[];
    expect(condition?.if).toEqual({ required: ['authMode'], properties: { authMode: { const: 'token' } } });
    expect(condition?.['then']).toEqual({ required: ['token'] });
    expect(manifest.posthog).toEqual(JSON.parse(await readFile(path.join(fixtures, 'webhook-exporter', 'plugin.json'), 'utf8')));
    // The bundle carries no import at all: the scaffold and node-fetch became shims over the globals.
    expect(tar).not.toMatch(/from\s*["']@posthog\/plugin-scaffold["']|from\s*["']node-fetch["']/);
  });

  it('converts markdown entries, json and attachment fields, and keeps values as strings', async () => {
    const tagger = await client.resolve('property-tagger', 'latest');
    expect(tagger.version).toBe('1.2.0'); // from package.json
    expect(tagger.manifest.config['x-markdown']).toEqual([expect.stringContaining('Tags every event')]);
    expect(tagger.manifest.config.properties?.extraProperties).toMatchObject({ type: 'string', contentMediaType: 'application/json', default: '{}' });
    expect(tagger.manifest.config.properties?.stampTypes).toMatchObject({ type: 'string', enum: ['true', 'false'], default: 'true' });
    const lookup = await client.resolve('lookup-table', '1.0.0');
    expect(lookup.manifest.config.properties?.table).toMatchObject({ type: 'object', 'x-attachment': true });
    expect(lookup.manifest.config.required).toEqual(['table']);
  });

  it('fails to pack without a version, naming the way to give one', async () => {
    await expect(packPlugin(path.join(fixtures, 'event-counter'), { outDir: path.join(root, 'check'), writeBundle: false })).rejects.toMatchObject({
      code: 'ERR_VERSION_INVALID',
      message: expect.stringContaining('--plugin-version'),
    });
  });

  it('fails to pack a plugin importing a Node built-in or a missing package, naming the import', async () => {
    const out = path.join(root, 'check');
    await expect(packPlugin(path.join(fixtures, 'bad-import-fs'), { outDir: out, writeBundle: false, version: '1.0.0' })).rejects.toMatchObject({
      code: 'ERR_PLUGIN_LOAD',
      message: expect.stringContaining("Cannot import 'fs'! This package is not provided"),
    });
    await expect(packPlugin(path.join(fixtures, 'bad-import-missing'), { outDir: out, writeBundle: false, version: '1.0.0' })).rejects.toMatchObject({
      code: 'ERR_PLUGIN_LOAD',
      message: expect.stringContaining("Cannot import 'posthog-plugin-enrichment-that-does-not-exist'! This package is not provided"),
    });
  });

  it('bundles a CommonJS plugin (module.exports), whose exports the sandbox finds on the default export', async () => {
    const packed = await packPlugin(path.join(fixtures, 'cjs-label'), { outDir: path.join(root, 'check'), writeBundle: false, version: '1.0.0' });
    expect(packed.manifest.main).toBe('dist/index.js');
    // The same bundle pack put in the tarball (PostHog rules), run in a sandbox directly.
    const { code: bundle } = await bundlePlugin(path.join(fixtures, 'cjs-label'), path.join(fixtures, 'cjs-label', 'index.js'), { posthog: true });
    expect(gunzipSync(packed.tarball).toString('utf8')).toContain(bundle);
    const sandbox = new PluginSandbox({
      name: 'commonjs-label',
      version: '1.0.0',
      integrity: `sha512-cjs-${Date.now()}`,
      code: bundle,
      config: { label: 'cjs' },
      timeoutMs: 500,
      host: createSandboxHost({ sink: { log: () => {}, metric: () => {} }, storage: { get: () => null, set: () => {}, del: () => {} }, cache: new MemoryCache(), postgres: false }),
    });
    try {
      await sandbox.start();
      expect(sandbox.hooks.has('processEvent')).toBe(true);
      const { output } = await sandbox.processBatch(JSON.stringify([{ uuid: 'c1', event: 'e', distinct_id: 'd', properties: {}, timestamp: '2026-01-01T00:00:00.000Z' }]));
      expect(batchEventsJson(output)).toContain('"label":"cjs"');
    } finally {
      sandbox.dispose();
    }
  });

  it("fails to pack the warehouse clients PostHog provided that have no isolate version, naming each", async () => {
    for (const name of ['@google-cloud/bigquery', '@google-cloud/storage', '@google-cloud/pubsub', 'snowflake-sdk']) {
      const dir = path.join(root, 'unsupported', name.replace(/[@/]/g, '_'));
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'plugin.json'), JSON.stringify({ name: 'Warehouse', main: 'index.js', config: [] }));
      await writeFile(path.join(dir, 'index.js'), `import * as client from '${name}'\nexport function exportEvents(events) { return client }\n`);
      await expect(packPlugin(dir, { outDir: path.join(root, 'check'), writeBundle: false, version: '1.0.0' })).rejects.toMatchObject({
        code: 'ERR_PLUGIN_LOAD',
        message: expect.stringContaining(`Cannot import '${name}'! This package is not provided`),
      });
    }
  });

  it('packs and runs a TypeScript plugin mixing ESM imports with module.exports = plugin', async () => {
    const packed = await packPlugin(path.join(fixtures, 'esm-cjs-mix'), { outDir: path.join(root, 'check'), writeBundle: false, version: '1.0.0' });
    expect(packed.hooks).toEqual(['processEvent']);
    expect(packed.warnings).toEqual([]);
    const { code: bundle } = await bundlePlugin(path.join(fixtures, 'esm-cjs-mix'), path.join(fixtures, 'esm-cjs-mix', 'index.ts'), { posthog: true });
    const sandbox = new PluginSandbox({
      name: 'esm-cjs-mix',
      version: '1.0.0',
      integrity: `sha512-mix-${Date.now()}`,
      code: bundle,
      config: { salt: 'pepper' },
      timeoutMs: 500,
      host: createSandboxHost({ sink: { log: () => {}, metric: () => {} }, storage: { get: () => null, set: () => {}, del: () => {} }, cache: new MemoryCache(), postgres: false }),
    });
    try {
      await sandbox.start();
      const { output } = await sandbox.processBatch(JSON.stringify([{ uuid: 'm1', event: 'e', distinct_id: 'd', properties: {}, timestamp: '2026-01-01T00:00:00.000Z' }]));
      expect(JSON.parse(batchEventsJson(output))[0].properties).toEqual({ mix_label: 'mixed-modules', mix_hash: createHash('sha1').update('pepper').digest('hex') });
    } finally {
      sandbox.dispose();
    }
  });

  it('fails to pack a plugin whose hooks resolve to nothing, or whose bundle would break (esbuild warnings)', async () => {
    const out = path.join(root, 'check');
    await expect(packPlugin(path.join(fixtures, 'bad-no-hooks'), { outDir: out, writeBundle: false, version: '1.0.0' })).rejects.toMatchObject({
      code: 'ERR_PLUGIN_LOAD',
      message: expect.stringContaining('defines no hook: its exports resolve to nothing'),
    });
    await expect(packPlugin(path.join(fixtures, 'bad-missing-export'), { outDir: out, writeBundle: false, version: '1.0.0' })).rejects.toMatchObject({
      code: 'ERR_PLUGIN_LOAD',
      message: expect.stringMatching(/the bundle would break in the sandbox: .*index\.js:4:\d+: .*tagEvent.*\[import-is-undefined\]/),
    });
  });

  it('refuses an invalid version and an unconvertible PostHog plugin.json with coded errors', async () => {
    const out = path.join(root, 'check');
    await expect(packPlugin(path.join(fixtures, 'event-counter'), { outDir: out, writeBundle: false, version: 'one' })).rejects.toMatchObject({
      code: 'ERR_VERSION_INVALID',
    });
    const broken = { name: 'Broken Choice', config: [{ key: 'mode', type: 'choice' }] };
    const tarball = await packRawTarball({ manifest: broken, files: { 'index.js': 'export function processEvent(e) { return e; }\n' } });
    await expect(client.publish(tarball, { name: 'broken-choice', version: '1.0.0' })).rejects.toMatchObject({
      code: 'ERR_MANIFEST_INVALID',
      message: expect.stringContaining('config.mode.choices'),
    });
  });

  it('rejects a config that misses a required_if field', async () => {
    await expect(
      addPlugin(path.join(root, 'other-runtime'), { name: 'webhook-exporter', config: { url: receiverUrl, authMode: 'token' }, registryUrl: registry.url }),
    ).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('accepts a tarball whose plugin.json is still in PostHog format, and installs it', async () => {
    const original = { name: 'Raw Upload', main: 'src/index.ts', config: [{ key: 'label', type: 'string', default: 'raw' }] };
    const tarball = await packRawTarball({
      manifest: original,
      files: { 'dist/index.js': 'export function processEvent(event, { config }) { return { ...event, properties: { ...event.properties, label: config.label } }; }\n' },
    });
    const published = await client.publish(tarball, { name: 'raw-upload', version: '0.3.0' });
    expect(published.version).toBe('0.3.0');
    const document = await client.resolve('raw-upload', '0.3.0');
    expect(document.manifest).toMatchObject({ name: 'raw-upload', version: '0.3.0', main: 'dist/index.js', posthog: original });
    const installed = await installPlugin({ registryUrl: registry.url, spec: 'raw-upload@0.3.0', cacheDir: path.join(root, 'raw-cache') });
    expect(installed.manifest).toMatchObject({ name: 'raw-upload', main: 'dist/index.js', posthog: original });
    expect(installed.code).toContain('processEvent');
  });
});

describe('running PostHog plugins', () => {
  it('runs processEvent with string config values, the json config, URL, and processEventBatch with an attachment', async () => {
    await capture('$pageview', 'user-1', { $browser: 'Chrome', $current_url: 'https://shop.example.com/cart' });
    const [event] = await waitFor('the pageview', async () => ((await events('$pageview')).length > 0 ? events('$pageview') : undefined));
    expect(event?.properties).toMatchObject({
      tags: ['plugline'],
      source: 'posthog',
      config_types: 'string,string',
      host: 'shop.example.com',
      browser_family: 'chromium',
      $plugins_succeeded: expect.arrayContaining([expect.stringMatching(/^property-tagger/), expect.stringMatching(/^lookup-table/)]),
    });
    expect(event?.properties?.$plugins_failed ?? []).toEqual([]);
  });

  it('retries a failing setupPlugin, delivers attachments outside meta.config, and masks secrets', async () => {
    const status = await plugins();
    const lookup = status.find((plugin) => plugin.name === 'lookup-table');
    expect(lookup?.status).toBe('running');
    expect(lookup?.recentLogs.some((line) => line.level === 'warn' && line.message.includes('setupPlugin failed (attempt 1/5)'))).toBe(true);
    const webhook = status.find((plugin) => plugin.name === 'webhook-exporter');
    expect(webhook?.config.token).toBe('********');
    expect(JSON.stringify(status)).not.toContain('sekret-token');
    expect(status.find((plugin) => plugin.name === 'event-counter')?.hooks).toEqual(expect.arrayContaining(['setupPlugin', 'onEvent', 'runEveryMinute', 'teardownPlugin']));
  });

  it('reports the metrics export (sum and max) on /metrics', async () => {
    const text = await (await fetch(`${runtime.url}/metrics`, admin())).text();
    expect(text).toMatch(/plugline_plugin_metric_total\{plugin="property-tagger",metric="events_tagged"\} [1-9]/);
    expect(text).toMatch(/plugline_plugin_metric\{plugin="property-tagger",metric="largest_tag_count",kind="max"\} 1/);
  });

  it('exports with the buffer settings from config, retries on RetryError and skips exportEventsToIgnore', async () => {
    await capture('ignored_event', 'user-2');
    await capture('purchase', 'user-2', { amount: '10' });
    const delivered = await waitFor('a successful delivery of the purchase', async () =>
      deliveries.find((delivery) => delivery.status === 200 && delivery.events.some((event) => event.event === 'purchase')),
    );
    expect(delivered.authorization).toBe('Bearer sekret-token');
    expect(deliveries[0]?.status).toBe(503);
    expect(deliveries.flatMap((delivery) => delivery.events).some((event) => event.event === 'ignored_event')).toBe(false);
    const dead = (await (await fetch(`${runtime.url}/api/dead-letters`, admin())).json()) as { deadLetters: unknown[] };
    expect(dead.deadLetters).toEqual([]);
    expect((await events('ignored_event')).length).toBe(1); // stored, only not exported
  });

  it('runs jobs scheduled with runNow, retrying a RetryError, and captures with posthog.capture', async () => {
    await capture('schedule_reminder', 'user-3');
    const [sent] = await waitFor('the reminder event', async () => ((await events('reminder_sent')).length > 0 ? events('reminder_sent') : undefined));
    expect(sent?.properties).toMatchObject({ distinct_id: 'user-3', sequence: 1, $plugline_plugin: 'job-scheduler' });
    expect(sent?.distinct_id).toBe('user-3');
    const [trigger] = await events('schedule_reminder');
    expect(trigger?.properties?.reminder_scheduled).toBe(true);
    const logs = (await plugins()).find((plugin) => plugin.name === 'job-scheduler')?.recentLogs ?? [];
    expect(logs.some((line) => line.message === 'reminder 1 for user-3')).toBe(true);
  });

  it('runs onEvent, then runEveryMinute when triggered, with cache lists, utils.cursor and storage', async () => {
    await runtime.runtime.settle();
    await runtime.runtime.runScheduled('runEveryMinute');
    const [summary] = await waitFor('the summary event', async () =>
      (await events('event_counter_summary')).length > 0 ? events('event_counter_summary') : undefined,
    );
    expect(summary?.properties).toMatchObject({ run: 1 });
    expect(Number(summary?.properties?.seen)).toBeGreaterThanOrEqual(4);
    expect(summary?.properties?.recent).toHaveLength(3);
    expect(runtime.runtime.store.storageGet('event-counter', 'last_summary')).toMatchObject({ run: 1 });
  });

  it('gives a plugin whose getSettings() says handlesLargeBatches larger export batches', async () => {
    await runtime.runtime.flushExports();
    const sizes = runtime.runtime.store.storageGet('archive-exporter', 'batch_sizes') as number[];
    const exported = sizes.reduce((sum, size) => sum + size, 0);
    expect(exported).toBeGreaterThanOrEqual(6);
    // The runtime's default cap is 2 events per batch; this plugin gets 20.
    expect(Math.max(...sizes)).toBeGreaterThan(2);
    expect(deliveries.every((delivery) => delivery.events.length <= 2)).toBe(true);
  });

  it('runs teardownPlugin when a config change replaces the plugin', async () => {
    const response = await fetch(`${runtime.url}/api/plugins/event-counter/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...admin().headers },
      body: JSON.stringify({ config: { summaryEvent: 'counter_summary_v2' } }),
    });
    expect(response.status).toBe(200);
    await waitFor('teardownPlugin', async () => (runtime.runtime.store.storageGet('event-counter', 'torn_down') === true ? true : undefined));
  });
});
