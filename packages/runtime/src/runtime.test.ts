import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { PluginEvent } from '@plugline/sdk';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPlugin } from './install.js';
import { installPlugin as installFromIndex, startRuntime } from './index.js';
import { addPlugin, listPlugins, removePlugin, setPluginConfig } from './project.js';
import { fixtures } from './test/fixtures.js';
import { adminFetch, startReceiver, startTestRegistry, testAdminToken, waitFor } from './test/helpers.js';

const silent = pino({ level: 'silent' });
let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const cleanup: (() => Promise<unknown>)[] = [];

async function tempDir(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function post(url: string, body: unknown, init: { headers?: Record<string, string>; raw?: Uint8Array | string } = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.raw ?? JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  return (await (await adminFetch(url)).json()) as T;
}

/** The `net:` grant that opens a local test server (the runtime refuses loopback without it). */
const netGrant = (url: string) => `net:${new URL(url).host}`;

/** A project with these plugins (in order), started on port 0. */
async function runtimeWith(plugins: { name: string; config?: Record<string, unknown>; settings?: Record<string, number>; grants?: string[] }[], options: Record<string, unknown> = {}) {
  const dir = await tempDir('plugline-runtime-');
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, spec: '^1.0.0', config: plugin.config ?? {}, registryUrl: registry.url, ...(plugin.grants ? { grants: plugin.grants } : {}) });
  if (plugins.some((plugin) => plugin.settings)) {
    const { readProject, writeProject } = await import('./project.js');
    const project = await readProject(dir);
    for (const plugin of plugins) if (plugin.settings) project.plugins.find((entry) => entry.name === plugin.name)!.settings = plugin.settings;
    await writeProject(dir, project);
  }
  const running = await startRuntime({ dir, port: 0, logger: silent, timeoutMs: 300, schedule: false, adminToken: testAdminToken, ...options });
  cleanup.push(() => running.close());
  return { dir, ...running };
}

beforeAll(async () => {
  registry = await startTestRegistry(Object.values(fixtures));
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry.close();
});

describe('install', () => {
  it('installs a real tarball, verifies integrity and caches it by integrity', async () => {
    const cacheDir = await tempDir('plugline-cache-');
    const installed = await installFromIndex({ registryUrl: registry.url, spec: 'first@^1', cacheDir });
    expect(installed).toMatchObject({ name: 'first', version: '1.0.0', manifest: { main: 'dist/index.js' } });
    expect(installed.integrity).toMatch(/^sha512-/);
    expect(installed.code).toContain('processEvent');
    const again = await installPlugin({ registryUrl: registry.url, spec: 'first', cacheDir });
    expect(again.dir).toBe(installed.dir);
  });

  it('rejects a plugin whose manifest.sdk this runtime does not satisfy', async () => {
    const cacheDir = await tempDir('plugline-cache-');
    await expect(installPlugin({ registryUrl: registry.url, spec: 'incompatible@1.0.0', cacheDir })).rejects.toMatchObject({ code: 'ERR_SDK_INCOMPATIBLE' });
  });

  it('rejects an unknown plugin and an unsatisfiable range with the registry codes', async () => {
    const cacheDir = await tempDir('plugline-cache-');
    await expect(installPlugin({ registryUrl: registry.url, spec: 'nope@1', cacheDir })).rejects.toMatchObject({ code: 'ERR_PLUGIN_NOT_FOUND' });
    await expect(installPlugin({ registryUrl: registry.url, spec: 'first@^2', cacheDir })).rejects.toMatchObject({ code: 'ERR_VERSION_NOT_FOUND' });
  });
});

describe('config', () => {
  it('validates configs (defaults applied, unknown keys rejected) and never shows writeOnly values', async () => {
    const dir = await tempDir('plugline-runtime-');
    await expect(addPlugin(dir, { name: 'secretive', config: { apiKey: 'short' }, registryUrl: registry.url })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(addPlugin(dir, { name: 'secretive', config: { apiKey: 'long-enough-secret', colour: 'red' }, registryUrl: registry.url })).rejects.toThrow(
      /colour: is not allowed/,
    );
    const added = await addPlugin(dir, { name: 'secretive', config: { apiKey: 'long-enough-secret' }, registryUrl: registry.url });
    expect(added.config).toEqual({ apiKey: '********' });
    expect(await listPlugins(dir)).toEqual([expect.objectContaining({ name: 'secretive', version: '1.0.0', config: { apiKey: '********' } })]);
    const error = await setPluginConfig(dir, 'secretive', { apiKey: 'another-secret-value', retries: -1 }).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    expect((error as Error).message).not.toContain('another-secret-value');
    await expect(setPluginConfig(dir, 'missing', {})).rejects.toMatchObject({ code: 'ERR_PLUGIN_NOT_INSTALLED' });

    const running = await startRuntime({ dir, port: 0, logger: silent, schedule: false, adminToken: testAdminToken });
    cleanup.push(() => running.close());
    const { plugins } = await getJson<{ plugins: { config: unknown; status: string }[] }>(`${running.url}/api/plugins`);
    expect(plugins[0]).toMatchObject({ status: 'running', config: { apiKey: '********', retries: 2 } });
    await post(`${running.url}/capture`, { event: 'e', distinct_id: 'u1' });
    const [stored] = running.runtime.queryEvents();
    expect(stored!.properties.secretive).toEqual({ retries: 2, greeting: 'key-length-18' });

    // Hot reload through the API: invalid -> 400 (secret not echoed); valid -> new config used.
    const bad = await adminFetch(`${running.url}/api/plugins/secretive/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ config: { apiKey: 'xyz' } }),
    });
    expect(bad.status).toBe(400);
    const badBody = await bad.text();
    expect(badBody).toContain('ERR_CONFIG_INVALID');
    expect(badBody).not.toContain('xyz');
    const good = await adminFetch(`${running.url}/api/plugins/secretive/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ config: { apiKey: 'a-brand-new-secret', retries: 5 } }),
    });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ name: 'secretive', version: '1.0.0', config: { apiKey: '********', retries: 5 } });
    // Sending the masked secret back (a GET-modify-PUT round trip) keeps the stored secret.
    const roundTrip = await adminFetch(`${running.url}/api/plugins/secretive/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ config: { apiKey: '********', retries: 5 } }),
    });
    expect(roundTrip.status).toBe(200);
    expect(JSON.parse(await readFile(join(dir, 'plugins.json'), 'utf8')).plugins[0].config).toEqual({ apiKey: 'a-brand-new-secret', retries: 5 });
    await post(`${running.url}/capture`, { event: 'e2', distinct_id: 'u1' });
    expect(running.runtime.queryEvents({ event: 'e2' })[0]!.properties.secretive).toEqual({ retries: 5, greeting: 'key-length-18' });
    expect(JSON.stringify(await getJson(`${running.url}/api/plugins`))).not.toContain('a-brand-new-secret');
    expect(await readFile(join(dir, 'plugins.json'), 'utf8')).toContain('a-brand-new-secret');
  });
});

describe('chain', () => {
  it('runs plugins in order, drops, fails open on a throw, and stamps $plugins_succeeded/$plugins_failed', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'first', config: { label: 'L' } }, { name: 'dropper' }, { name: 'thrower' }, { name: 'last' }]);
    const response = await post(`${url}/batch`, {
      batch: [
        { event: 'ok', distinct_id: 'a', uuid: '00000000-0000-4000-8000-000000000001' },
        { event: 'drop_me', distinct_id: 'b' },
        { event: 'explode', distinct_id: 'c', properties: { explode: true } },
      ],
    });
    expect(response).toMatchObject({ status: 200, body: { status: 1, accepted: 3, stored: 2, dropped: 1 } });
    const ok = runtime.queryEvents({ event: 'ok' })[0]!;
    expect(ok.uuid).toBe('00000000-0000-4000-8000-000000000001');
    expect(ok.properties).toMatchObject({
      trail: ['first', 'dropper', 'thrower', 'last'],
      label: 'L',
      $plugins_succeeded: ['first (1.0.0)', 'dropper (1.0.0)', 'thrower (1.0.0)', 'last (1.0.0)'],
    });
    expect(ok.properties.$plugins_failed).toBeUndefined();
    expect(runtime.queryEvents({ event: 'drop_me' })).toEqual([]);
    const exploded = runtime.queryEvents({ event: 'explode' })[0]!;
    // The thrower's half-done edit is gone: the event continued as it was before that plugin.
    expect(exploded.properties.half_done).toBeUndefined();
    expect(exploded.properties.trail).toEqual(['first', 'dropper', 'last']);
    expect(exploded.properties.$plugins_failed).toEqual(['thrower (1.0.0)']);
    const { plugins } = await getJson<{ plugins: { name: string; errors: { total: number; byCode: Record<string, number> }; recentErrors: { message: string; hook: string }[] }[] }>(
      `${url}/api/plugins`,
    );
    const thrower = plugins.find((plugin) => plugin.name === 'thrower')!;
    expect(thrower.errors.byCode).toEqual({ ERR_PLUGIN_THREW: 1 });
    expect(thrower.recentErrors[0]).toMatchObject({ hook: 'processEvent', message: expect.stringContaining('thrower@1.0.0 processEvent: TypeError: kaboom') });
  });

  it('delivers logs and metrics buffered in the sandbox, in order, with the log rate cap and the metric-name cap', async () => {
    const pluginLines: { plugin?: string; msg?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void pluginLines.push(JSON.parse(line)) });
    const { url } = await runtimeWith([{ name: 'chatty' }], { logger });
    const started = Date.now();
    const batch = Array.from({ length: 120 }, (_, n) => ({ event: 'e', distinct_id: `d${n}`, properties: { n } }));
    expect(await post(`${url}/batch`, { batch })).toMatchObject({ status: 200, body: { stored: 120 } });
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
    // 36,000 lines were logged; at most 100 per second reach the process log.
    const fromChatty = pluginLines.filter((line) => line.plugin === 'chatty' && line.msg?.startsWith('line '));
    expect(fromChatty.length).toBeGreaterThan(0);
    expect(fromChatty.length).toBeLessThanOrEqual(100 * seconds);
    expect(fromChatty[0]!.msg).toBe('line 0.0');
    const { plugins } = await getJson<{ plugins: { name: string; recentLogs: { message: string }[] }[] }>(`${url}/api/plugins`);
    const recent = plugins.find((plugin) => plugin.name === 'chatty')!.recentLogs.map((line) => line.message);
    expect(recent).toEqual(Array.from({ length: 50 }, (_, i) => `line 119.${250 + i}`));
    const metrics = await (await adminFetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/plugline_plugin_metric_total\{plugin="chatty",metric="events"\} 120\n/);
    expect(metrics).toMatch(/plugline_plugin_metric\{plugin="chatty",metric="biggest",kind="max"\} 119\n/);
    const names = new Set([...metrics.matchAll(/plugline_plugin_metric(?:_total)?\{plugin="chatty",metric="([^"]+)"/g)].map((match) => match[1]));
    expect(names.size).toBe(100);
  });

  it('stops an infinite loop and a memory bomb; the runtime and other plugins keep working', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'first' }, { name: 'looper' }, { name: 'bomber', settings: { memoryLimitMb: 16, timeoutMs: 5000 } }, { name: 'last' }]);
    // Each bad event shares its batch with a good one: only the bad event misses the failing plugin.
    expect((await post(`${url}/batch`, { batch: [{ event: 'before-loop', distinct_id: 'a' }, { event: 'loop', distinct_id: 'a' }, { event: 'after-loop', distinct_id: 'a' }] })).status).toBe(200);
    expect((await post(`${url}/batch`, { batch: [{ event: 'bomb', distinct_id: 'b' }, { event: 'after-bomb', distinct_id: 'b' }] })).status).toBe(200);
    expect((await post(`${url}/capture`, { event: 'fine', distinct_id: 'c' })).status).toBe(200);
    for (const neighbour of ['before-loop', 'after-loop', 'after-bomb']) {
      const event = runtime.queryEvents({ event: neighbour })[0]!;
      expect(event.properties.trail).toEqual(['first', 'looper', 'bomber', 'last']);
      expect(event.properties.$plugins_failed).toBeUndefined();
    }
    const looped = runtime.queryEvents({ event: 'loop' })[0]!;
    expect(looped.properties.trail).toEqual(['first', 'bomber', 'last']);
    expect(looped.properties.$plugins_failed).toEqual(['looper (1.0.0)']);
    const bombed = runtime.queryEvents({ event: 'bomb' })[0]!;
    expect(bombed.properties.trail).toEqual(['first', 'looper', 'last']);
    expect(bombed.properties.$plugins_failed).toEqual(['bomber (1.0.0)']);
    const fine = runtime.queryEvents({ event: 'fine' })[0]!;
    expect(fine.properties.trail).toEqual(['first', 'looper', 'bomber', 'last']);
    const { plugins } = await getJson<{ plugins: { name: string; restarts: number; errors: { byCode: Record<string, number> }; recentErrors: { code: string; message: string }[] }[] }>(
      `${url}/api/plugins`,
    );
    const looper = plugins.find((plugin) => plugin.name === 'looper')!;
    const bomber = plugins.find((plugin) => plugin.name === 'bomber')!;
    expect(looper).toMatchObject({ restarts: 1, errors: { byCode: { ERR_PLUGIN_TIMEOUT: 1 } } });
    expect(looper.recentErrors[0]!.message).toMatch(/looper@1\.0\.0 processEvent: ran longer than 303 ms \(CPU\)/);
    expect(bomber).toMatchObject({ restarts: 1, errors: { byCode: { ERR_PLUGIN_MEMORY: 1 } } });
    const metrics = await (await adminFetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/plugline_plugin_restarts_total\{plugin="looper",code="ERR_PLUGIN_TIMEOUT"\} 1/);
    expect(metrics).toMatch(/plugline_plugin_restarts_total\{plugin="bomber",code="ERR_PLUGIN_MEMORY"\} 1/);
  });

  it('gives plugin code no Node, no host objects and no imports', async () => {
    const { url, runtime } = await runtimeWith([{ name: 'escaper' }]);
    await post(`${url}/capture`, { event: 'probe', distinct_id: 'x' });
    const probes = runtime.queryEvents({ event: 'probe' })[0]!.properties.escape as Record<string, string>;
    expect(probes).toEqual({
      process: 'threw ReferenceError',
      require: 'threw ReferenceError',
      ctorProcess: 'threw ReferenceError',
      ctorGlobalIsOwn: 'true',
      // Only the documented lower-case globals exist (plus the ECMAScript built-in functions).
      globals: 'atob,btoa,console,crypto,decodeURI,decodeURIComponent,encodeURI,encodeURIComponent,escape,eval,fetch,isFinite,isNaN,parseFloat,parseInt,posthog,structuredClone,unescape',
      dynamicImport: 'rejected',
      metaKeys: 'attachments,cache,config,fetch,geoip,global,jobs,logger,metrics,postgres,storage,utils',
    });
  });
});

describe('hot reload and host services', () => {
  it('changes a config without dropping in-flight events', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let waiting = 0;
    const waiter = (await import('node:http')).createServer(async (_req, res) => {
      waiting += 1;
      await gate;
      res.end('ok');
    });
    await new Promise<void>((resolve) => waiter.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => waiter.close(() => resolve())));
    const waitUrl = `http://127.0.0.1:${(waiter.address() as import('node:net').AddressInfo).port}/`;
    const { url, runtime } = await runtimeWith([{ name: 'slow-tagger', config: { tag: 'old', waitUrl }, grants: [netGrant(waitUrl)] }]);
    const inFlight = post(`${url}/capture`, { event: 'in-flight', distinct_id: 'u' });
    await waitFor(() => waiting === 1);
    const reload = adminFetch(`${url}/api/plugins/slow-tagger/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ config: { tag: 'new', waitUrl } }),
    });
    expect((await reload).status).toBe(200);
    release();
    expect((await inFlight).body).toMatchObject({ stored: 1 });
    await post(`${url}/capture`, { event: 'after', distinct_id: 'u' });
    expect(runtime.queryEvents({ event: 'in-flight' })[0]!.properties.tag).toBe('old');
    expect(runtime.queryEvents({ event: 'after' })[0]!.properties.tag).toBe('new');
  });

  it('bridges meta.postgres for plugins that declare the capability', async () => {
    const db = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const { url, runtime } = await runtimeWith([{ name: 'pg-reader', config: { db }, grants: ['postgres', netGrant(db)] }]);
    await post(`${url}/capture`, { event: 'pg', distinct_id: 'u' });
    const stored = runtime.queryEvents({ event: 'pg' })[0]!;
    expect(stored.properties.pg).toEqual({ n: 42, rowCount: 1 });
    expect(stored.properties.$plugins_succeeded).toEqual(['pg-reader (1.0.0)']);
    const { plugins } = await getJson<{ plugins: { config: Record<string, unknown> }[] }>(`${url}/api/plugins`);
    expect(plugins[0]!.config).toEqual({ db: '********' });
  });
});

describe('PostHog-style plugins', () => {
  it('supports named exports, processEventBatch, cache lists, posthog.capture, exportEventsToIgnore, jobs and utils.cursor', async () => {
    const receiver = await startReceiver(() => 200);
    cleanup.push(() => receiver.close());
    const { url, runtime } = await runtimeWith([{ name: 'posthog-style', config: { url: receiver.url }, grants: [netGrant(receiver.url)] }], { exports: { maxAgeMs: 0 }, exportTickMs: 20 });
    await post(`${url}/batch`, { batch: ['trigger', 'ignored', 'plain'].map((event) => ({ event, distinct_id: 'ph' })) });
    expect(runtime.queryEvents({ event: 'trigger' })[0]!.properties).toMatchObject({ list: ['b', 'a'], len: 2, greeting: 'hi' });
    const captured = await waitFor(() => runtime.queryEvents({ event: 'captured_by_plugin' })[0]);
    expect(captured).toMatchObject({ distinct_id: 'ph', properties: { $plugline_plugin: 'posthog-style', len: 2 } });
    await waitFor(() => receiver.received.flatMap((request) => request.body as string[]).length >= 3);
    const exported = receiver.received.flatMap((request) => request.body as string[]).sort();
    expect(exported).toEqual(['captured_by_plugin', 'plain', 'trigger']);
    // utils.cursor (init only once, atomic increment) and a job scheduled with runNow, run by the host.
    await runtime.runScheduled('runEveryMinute');
    await waitFor(() => runtime.store.storageGet('posthog-style', 'job_payload'));
    expect(runtime.store.storageGet('posthog-style', 'job_payload')).toEqual({ n: 15 });
  });
});

describe('capture API', () => {
  it('accepts PostHog formats (single, batch, array, gzip, gzip-js, form) and fills uuid/timestamp', async () => {
    const { url, runtime } = await runtimeWith([]);
    const single = await post(`${url}/capture`, { api_key: 'phc_x', event: 'single', properties: { distinct_id: 'p1', $ip: '8.8.8.8' } });
    expect(single).toMatchObject({ status: 200, body: { status: 1, stored: 1 } });
    const gz = gzipSync(JSON.stringify({ batch: [{ event: 'gz', distinct_id: 'u' }] }));
    expect((await post(`${url}/batch`, null, { raw: gz, headers: { 'content-encoding': 'gzip' } })).status).toBe(200);
    expect((await post(`${url}/e/?compression=gzip-js`, null, { raw: gzipSync(JSON.stringify([{ event: 'gzjs', distinct_id: 'u' }])), headers: { 'content-type': 'text/plain' } })).status).toBe(200);
    const form = `data=${encodeURIComponent(Buffer.from(JSON.stringify({ event: 'form', distinct_id: 'u' })).toString('base64'))}`;
    expect((await post(`${url}/e`, null, { raw: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(200);
    const events = runtime.queryEvents({ order: 'asc' });
    expect(events.map((event) => event.event)).toEqual(['single', 'gz', 'gzjs', 'form']);
    for (const event of events) {
      expect(event.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false);
    }
    expect(events[0]).toMatchObject({ distinct_id: 'p1', ip: '8.8.8.8' });
    const api = await getJson<{ events: PluginEvent[] }>(`${url}/api/events?event=gz&limit=5`);
    expect(api.events.map((event) => event.event)).toEqual(['gz']);
    const desc = await getJson<{ events: PluginEvent[] }>(`${url}/api/events?limit=2`);
    expect(desc.events.map((event) => event.event)).toEqual(['form', 'gzjs']);
  });

  it('deduplicates by uuid', async () => {
    const { url, runtime } = await runtimeWith([]);
    const event = { event: 'dup', distinct_id: 'u', uuid: '00000000-0000-4000-8000-00000000d0d0' };
    expect((await post(`${url}/capture`, event)).body).toMatchObject({ stored: 1 });
    expect((await post(`${url}/capture`, event)).body).toMatchObject({ stored: 0, duplicates: 1 });
    expect(runtime.store.countEvents()).toBe(1);
  });

  it('answers malformed payloads with 400 ERR_PAYLOAD_INVALID, counts them and keeps the valid events', async () => {
    const { url, runtime } = await runtimeWith([]);
    const notJson = await post(`${url}/capture`, null, { raw: '{nope' });
    expect(notJson).toMatchObject({ status: 400, body: { error: { code: 'ERR_PAYLOAD_INVALID' } } });
    const empty = await post(`${url}/capture`, null, { raw: '' });
    expect(empty).toMatchObject({ status: 400, body: { error: { code: 'ERR_PAYLOAD_INVALID' } } });
    const badGzip = await post(`${url}/batch?compression=gzip-js`, null, { raw: 'not gzip at all' });
    expect(badGzip).toMatchObject({ status: 400, body: { error: { code: 'ERR_PAYLOAD_INVALID' } } });
    const mixed = await post(`${url}/batch`, {
      batch: [{ event: 'good', distinct_id: 'u' }, { distinct_id: 'u' }, 'string', { event: 'bad-props', distinct_id: 'u', properties: [] }, { event: 'no-id' }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body).toMatchObject({ error: { code: 'ERR_PAYLOAD_INVALID' }, accepted: 1, stored: 1 });
    expect((mixed.body.error as { details: string[] }).details).toEqual([
      'batch[1]: "event" must be a non-empty string',
      'batch[2]: must be an object',
      'batch[3]: "properties" must be an object',
      'batch[4]: "distinct_id" must be a string (in the event or its properties)',
    ]);
    expect(runtime.queryEvents().map((event) => event.event)).toEqual(['good']);
    const metrics = await (await adminFetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/plugline_payloads_invalid_total 7/);
  });
});

describe('exports', () => {
  it('retries a RetryError with backoff, dead-letters after max attempts, then replays', async () => {
    let failing = true;
    const receiver = await startReceiver(() => (failing ? 503 : 200));
    cleanup.push(() => receiver.close());
    const { url, runtime } = await runtimeWith([{ name: 'exporter', config: { url: `${receiver.url}/ingest` }, grants: [netGrant(receiver.url)] }], {
      exports: { maxEvents: 2, maxAgeMs: 60_000, maxAttempts: 3, backoffBaseMs: 20, backoffMaxMs: 50 },
      exportTickMs: 20,
    });
    await post(`${url}/batch`, { batch: [{ event: 'x1', distinct_id: 'u', uuid: 'e-1' }, { event: 'x2', distinct_id: 'u', uuid: 'e-2' }] });
    const [dead] = await waitFor(async () => {
      const { deadLetters } = await getJson<{ deadLetters: { id: number; attempts: number; code: string; plugin: string; reason: string }[] }>(`${url}/api/dead-letters`);
      return deadLetters.length > 0 ? deadLetters : undefined;
    });
    expect(dead).toMatchObject({ plugin: 'exporter', attempts: 3, code: 'ERR_EXPORT_RETRY_EXHAUSTED', reason: expect.stringContaining('receiver answered 503') });
    expect(receiver.received.map((request) => request.status)).toEqual([503, 503, 503]);
    // The events themselves were never lost.
    expect(runtime.store.countEvents()).toBe(2);

    failing = false;
    const replay = await adminFetch(`${url}/api/dead-letters/${dead!.id}/replay`, { method: 'POST' });
    expect(replay.status).toBe(202);
    await waitFor(() => receiver.received.some((request) => request.status === 200));
    expect(receiver.received.at(-1)).toEqual({ status: 200, body: ['e-1', 'e-2'] });
    await waitFor(async () => (await getJson<{ deadLetters: unknown[] }>(`${url}/api/dead-letters`)).deadLetters.length === 0);
    const missing = await adminFetch(`${url}/api/dead-letters/9999/replay`, { method: 'POST' });
    expect(missing.status).toBe(404);
  });

  it('sends a batch that fails permanently straight to the dead-letter store', async () => {
    const receiver = await startReceiver(() => 400);
    cleanup.push(() => receiver.close());
    const { url, runtime } = await runtimeWith([{ name: 'exporter', config: { url: receiver.url }, grants: [netGrant(receiver.url)] }], { exportTickMs: 20 });
    await post(`${url}/capture`, { event: 'x', distinct_id: 'u' });
    await runtime.flushExports();
    const [dead] = runtime.store.deadLetters({ withEvents: true });
    expect(dead).toMatchObject({ attempts: 1, code: 'ERR_EXPORT_FAILED', eventCount: 1 });
    expect(dead!.events[0]!.event).toBe('x');
  });
});

describe('restart', () => {
  it('keeps storage and export buffers, and reinstalls the same bytes offline from the lockfile', async () => {
    const receiver = await startReceiver(() => 200);
    cleanup.push(() => receiver.close());
    const ownRegistry = await startTestRegistry([fixtures.first, fixtures.stateful, fixtures.exporter]);
    let registryClosed = false;
    cleanup.push(() => (registryClosed ? Promise.resolve() : ownRegistry.close()));
    const dir = await tempDir('plugline-runtime-');
    await addPlugin(dir, { name: 'first', registryUrl: ownRegistry.url });
    await addPlugin(dir, { name: 'stateful', registryUrl: ownRegistry.url });
    await addPlugin(dir, { name: 'exporter', config: { url: receiver.url }, registryUrl: ownRegistry.url, grants: [netGrant(receiver.url)] });
    const lockBefore = await readFile(join(dir, 'plugins.lock.json'), 'utf8');
    const options = { dir, port: 0, logger: silent, schedule: false, adminToken: testAdminToken, exports: { maxEvents: 1000, maxAgeMs: 3_600_000 } } as const;

    const one = await startRuntime(options);
    await post(`${one.url}/capture`, { event: 'before-restart', distinct_id: 'u', uuid: 'r-1' });
    await one.runtime.settle();
    await one.runtime.runScheduled('runEveryMinute');
    expect(one.runtime.store.bufferStats('exporter').count).toBe(1);
    await one.close();

    // The registry goes away: the restart must not need it.
    await ownRegistry.close();
    registryClosed = true;
    const two = await startRuntime(options);
    cleanup.push(() => two.close());
    expect(await readFile(join(dir, 'plugins.lock.json'), 'utf8')).toBe(lockBefore);
    const { plugins } = await getJson<{ plugins: { name: string; status: string; integrity: string }[] }>(`${two.url}/api/plugins`);
    expect(plugins.map((plugin) => `${plugin.name}:${plugin.status}`)).toEqual(['first:running', 'stateful:running', 'exporter:running']);
    const lock = JSON.parse(lockBefore) as { plugins: Record<string, { integrity: string }> };
    for (const plugin of plugins) expect(plugin.integrity).toBe(lock.plugins[plugin.name]!.integrity);
    expect(two.runtime.store.storageGet('stateful', 'last_seen')).toBe('r-1');
    expect(two.runtime.store.storageGet('stateful', 'runs')).toBe(1);
    // The buffered event survived the restart and is exported now.
    await two.runtime.flushExports();
    expect(receiver.received.map((request) => request.body)).toEqual([['r-1']]);
    await two.runtime.runScheduled('runEveryMinute');
    expect(two.runtime.store.storageGet('stateful', 'runs')).toBe(2);
  });

  it('installs a committed lockfile on a fresh machine: the pinned version, only with the pinned integrity', async () => {
    const dir = await tempDir('plugline-runtime-');
    await addPlugin(dir, { name: 'first', registryUrl: registry.url });
    await rm(join(dir, 'cache'), { recursive: true, force: true });
    const running = await startRuntime({ dir, port: 0, logger: silent, schedule: false, adminToken: testAdminToken });
    cleanup.push(() => running.close());
    expect(running.runtime.describePlugins().map((plugin) => `${plugin.name}@${plugin.version}:${plugin.status}`)).toEqual(['first@1.0.0:running']);
    // A lockfile whose integrity the registry does not serve is refused.
    const other = await tempDir('plugline-runtime-');
    await addPlugin(other, { name: 'first', registryUrl: registry.url });
    await rm(join(other, 'cache'), { recursive: true, force: true });
    const lock = JSON.parse(await readFile(join(other, 'plugins.lock.json'), 'utf8'));
    lock.plugins.first.integrity = `sha512-${Buffer.alloc(64).toString('base64')}`;
    await writeFile(join(other, 'plugins.lock.json'), JSON.stringify(lock));
    // ... as an error of that plugin (the others would still start).
    const refused = await startRuntime({ dir: other, port: 0, logger: silent, schedule: false });
    cleanup.push(() => refused.close());
    expect(refused.runtime.describePlugins()).toMatchObject([{ name: 'first', status: 'error', errors: { byCode: { ERR_TARBALL_INTEGRITY: 1 } } }]);
  });

  it('removes plugins from the chain and the lockfile', async () => {
    const dir = await tempDir('plugline-runtime-');
    await addPlugin(dir, { name: 'first', registryUrl: registry.url });
    await addPlugin(dir, { name: 'last', registryUrl: registry.url });
    await removePlugin(dir, 'first');
    expect((await listPlugins(dir)).map((plugin) => plugin.name)).toEqual(['last']);
    expect(JSON.parse(await readFile(join(dir, 'plugins.lock.json'), 'utf8')).plugins).toEqual({ last: expect.objectContaining({ version: '1.0.0' }) });
    await expect(removePlugin(dir, 'first')).rejects.toMatchObject({ code: 'ERR_PLUGIN_NOT_INSTALLED' });
  });
});
