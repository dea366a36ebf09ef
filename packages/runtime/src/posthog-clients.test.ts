// PostHog's real client libraries, unchanged, against a runtime started here: posthog-node in this
// process, posthog-js in a page served from another origin and run by Debian's Chromium (playwright-core).
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { PluginEvent } from '@plugline/sdk';
import { pino } from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';
import { PostHog, type PostHogOptions } from 'posthog-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningRuntime, startRuntime } from './server.js';
import { adminFetch, testAdminToken, waitFor } from './test/helpers.js';

const require = createRequire(import.meta.url);
/** The installed version of a package (pinned in package-lock.json), read from its own package.json. */
function installedVersion(name: string): string {
  for (let folder = dirname(require.resolve(name)); folder !== dirname(folder); folder = dirname(folder)) {
    const file = join(folder, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
      if (manifest.name === name) return manifest.version;
    }
  }
  throw new Error(`no package.json for ${name}`);
}
const posthogJsVersion = installedVersion('posthog-js');
const posthogNodeVersion = installedVersion('posthog-node');
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let running: RunningRuntime;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugline-posthog-clients-'));
  running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: pino({ level: 'silent' }), schedule: false });
});

afterAll(async () => {
  await running?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const stored = (distinctIds: string[]) => running.runtime.queryEvents({ limit: 10_000, order: 'asc' }).filter((event) => distinctIds.includes(event.distinct_id));
const names = (events: PluginEvent[]) => events.map((event) => event.event).sort();
const uuidsUnique = (events: PluginEvent[]) => new Set(events.map((event) => event.uuid)).size === events.length;

async function metric(name: string): Promise<number> {
  const text = await (await adminFetch(`${running.url}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe(`posthog-node ${posthogNodeVersion}`, () => {
  it('sends every call type, batched and immediate, flushes on shutdown, and sees "no flags" without errors', async () => {
    const errors: unknown[] = [];
    const consoleError = vi.spyOn(console, 'error');
    const invalidBefore = await metric('plugline_payloads_invalid_total');
    // flushAt 50: everything queued goes out in one /batch/ request at shutdown.
    const client = new PostHog('phc_node_test', { host: running.url, flushAt: 50, flushInterval: 60_000, featureFlagsPollingInterval: 60_000 });
    client.on('error', (error) => errors.push(error));
    const past = new Date(Date.now() - 3_600_000);
    client.capture({ distinctId: 'node-user', event: 'order_placed', properties: { total: 42.5, items: ['a', 'b'] }, groups: { company: 'acme' } });
    client.capture({ distinctId: 'node-user', event: 'backfilled', timestamp: past, properties: { source: 'import' } });
    client.identify({ distinctId: 'node-user', properties: { email: 'node@example.com', $set_once: { first_seen: 'today' } } });
    client.alias({ distinctId: 'node-user', alias: 'node-anon' });
    client.groupIdentify({ groupType: 'company', groupKey: 'acme', properties: { name: 'Acme Inc', seats: 12 } });
    await client.captureImmediate({ distinctId: 'node-user', event: 'sent_at_once', properties: { immediate: true } });

    expect(await client.getFeatureFlag('new-checkout', 'node-user')).toBe(false);
    expect(await client.isFeatureEnabled('new-checkout', 'node-user')).toBe(false);
    expect((await client.getFeatureFlagPayload('new-checkout', 'node-user')) ?? null).toBeNull();
    expect(await client.getAllFlags('node-user')).toEqual({});
    expect(await client.getAllFlagsAndPayloads('node-user')).toEqual({ featureFlags: {}, featureFlagPayloads: {} });
    await client.shutdown();

    expect(errors).toEqual([]);
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
    expect(await metric('plugline_payloads_invalid_total')).toBe(invalidBefore);

    const events = stored(['node-user', '$company_acme']);
    expect(uuidsUnique(events)).toBe(true);
    // One $feature_flag_called per flag and response (posthog-node deduplicates them itself).
    expect(names(events)).toEqual(['$create_alias', '$feature_flag_called', '$groupidentify', '$identify', 'backfilled', 'order_placed', 'sent_at_once']);
    const byName = Object.fromEntries(events.map((event) => [event.event, event]));
    expect(byName.order_placed?.properties).toMatchObject({ total: 42.5, items: ['a', 'b'], $groups: { company: 'acme' }, $lib: 'posthog-node', $lib_version: posthogNodeVersion });
    expect(byName.$identify?.properties).toMatchObject({ $set: { email: 'node@example.com' }, $set_once: { first_seen: 'today' } });
    expect(byName.$create_alias?.properties).toMatchObject({ alias: 'node-anon' });
    expect(byName.$groupidentify).toMatchObject({ distinct_id: '$company_acme', properties: { $group_type: 'company', $group_key: 'acme', $group_set: { name: 'Acme Inc', seats: 12 } } });
    expect(byName.sent_at_once?.properties).toMatchObject({ immediate: true });
    const flagCalled = byName.$feature_flag_called;
    expect(flagCalled?.properties).toMatchObject({ $feature_flag: 'new-checkout', $feature_flag_response: false });
    expect(flagCalled?.properties).not.toHaveProperty('$feature_flag_error');
    // The request's address is the event's $ip (posthog-node sends none).
    expect(byName.order_placed).toMatchObject({ ip: '127.0.0.1', properties: { $ip: '127.0.0.1' } });
    // A timestamp an hour back stays an hour back (sent_at skew correction only removes the client's clock error).
    const backfilled = Date.parse(byName.backfilled?.timestamp ?? '');
    expect(Math.abs(backfilled - past.getTime())).toBeLessThan(60_000);
  });
});

describe(`posthog-node ${posthogNodeVersion} with local evaluation`, () => {
  it('polls the (empty) flag definitions with a personal API key and falls back to /flags without errors', async () => {
    const errors: unknown[] = [];
    const consoleError = vi.spyOn(console, 'error');
    // The client's own HTTP calls, observed on the way (the real fetch does the work).
    const calls: string[] = [];
    const observed = (async (input: string, init: RequestInit) => {
      const response = await fetch(input, init);
      calls.push(`${init.method ?? 'GET'} ${new URL(input).pathname} ${response.status}`);
      return response;
    }) as unknown as NonNullable<PostHogOptions['fetch']>;
    const client = new PostHog('phc_node_local', { host: running.url, personalApiKey: 'phx_local', flushAt: 50, flushInterval: 60_000, fetch: observed });
    client.on('error', (error) => errors.push(error));
    await client.reloadFeatureFlags();
    expect(await client.getFeatureFlag('local-flag', 'local-user')).toBe(false);
    expect(await client.getAllFlags('local-user')).toEqual({});
    await client.shutdown();
    expect(errors).toEqual([]);
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
    const called = stored(['local-user']);
    expect(calls).toContain('GET /flags/definitions 200');
    expect(calls).toContain('POST /flags/ 200');
    expect(calls.filter((call) => !call.endsWith(' 200'))).toEqual([]);
    expect(names(called)).toEqual(['$feature_flag_called']);
    expect(called[0]?.properties).toMatchObject({ $feature_flag: 'local-flag', $feature_flag_response: false, locally_evaluated: false });
    expect(called[0]?.properties).not.toHaveProperty('$feature_flag_error');
  });
});

/** The test page's server: another origin than the runtime, so every call is cross-origin (CORS). */
async function startPageServer(runtimeUrl: string) {
  const bundle = await readFile(require.resolve('posthog-js/dist/array.full.js'), 'utf8');
  const page = (config: Record<string, unknown>, script: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,"></head>
<body><h1>Shop</h1>
<script src="/array.full.js"></script>
<script>
window.flagValue = 'unset';
posthog.init('phc_browser_test', Object.assign(${JSON.stringify({ api_host: runtimeUrl })}, ${JSON.stringify(config)}, {
  loaded: function (ph) { window.posthogLoaded = true; }
}));
${script}
</script></body></html>`;
  const shared = {
    // Headless Chromium says "HeadlessChrome": posthog-js's docs say to opt out of its bot filter in tests.
    opt_out_useragent_filter: true,
    request_batching: false,
    autocapture: false,
    disable_session_recording: true,
    capture_pageview: true,
    capture_pageleave: true,
  };
  const pages: Record<string, string> = {
    // Default compression (gzip-js for fetch and for the unload beacon), flag keys asked for by name.
    '/gzip.html': page(
      { ...shared, flag_keys: ['beta-banner'] },
      `posthog.onFeatureFlags(function () { if (window.flagValue === 'unset') window.flagValue = posthog.getFeatureFlag('beta-banner'); });`,
    ),
    // No compression: JSON fetches, and the unload beacon becomes a base64 form (?compression=base64).
    '/plain.html': page({ ...shared, disable_compression: true }, ''),
    // posthog-js's defaults (request batching on): events queue and the unload flushes the queue by beacon.
    '/batched.html': page({ ...shared, request_batching: true }, ''),
    '/away.html': '<!doctype html><title>away</title><link rel="icon" href="data:,"><p>gone</p>',
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/array.full.js') res.writeHead(200, { 'content-type': 'application/javascript' }).end(bundle);
    else if (pages[path]) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pages[path]);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe(`posthog-js ${posthogJsVersion} in Chromium`, () => {
  let browser: Browser;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  const problems: string[] = [];
  const posthogCalls: string[] = [];

  beforeAll(async () => {
    pages = await startPageServer(running.url);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
  });

  // Requests to the runtime a page has in flight: a page is left only once they are answered, so that
  // leaving it never aborts one (a flags reload after identify, say) and shows up as a failed request.
  const inFlight = new Map<Page, number>();
  const settled = (page: Page) => waitFor(() => (inFlight.get(page) ?? 0) === 0, 20_000);

  async function openPage(path: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    inFlight.set(page, 0);
    const ours = (url: string) => url.startsWith(running.url);
    page.on('request', (request) => void (ours(request.url()) && inFlight.set(page, (inFlight.get(page) ?? 0) + 1)));
    const done = (request: { url(): string }) => void (ours(request.url()) && inFlight.set(page, (inFlight.get(page) ?? 1) - 1));
    page.on('requestfinished', done);
    page.on('requestfailed', done);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console.${message.type()}: ${message.text()}`);
    });
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`));
    page.on('response', (response) => {
      if (!response.url().startsWith(running.url)) return;
      posthogCalls.push(`${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`);
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
    });
    await page.goto(`${pages.url}${path}`);
    await waitFor(() => page.evaluate('window.posthogLoaded === true'));
    return page;
  }

  const distinctIdOf = (page: Page) => page.evaluate('posthog.get_distinct_id()') as Promise<string>;

  it('stores custom events, a $pageview, an identify and the unload beacons once each, with no console or CORS error', async () => {
    // Page 1: gzip-js everywhere; left by navigating away.
    const first = await openPage('/gzip.html');
    const anonymous = await distinctIdOf(first);
    await waitFor(() => first.evaluate("window.flagValue !== 'unset'"));
    expect(await first.evaluate('window.flagValue')).toBe(false);
    await first.evaluate(`posthog.capture('added_to_cart', { sku: 'SKU-1', price: 9.5, tags: ['new'] })`);
    await first.evaluate(`posthog.identify('shopper-1', { email: 'shopper@example.com' }, { first_visit: 'today' })`);
    await first.evaluate(`posthog.capture('checkout_started', { step: 1 })`);
    const ids = [anonymous, 'shopper-1'];
    await waitFor(() => stored(ids).some((event) => event.event === 'checkout_started'), 20_000);
    await settled(first);
    await first.goto(`${pages.url}/away.html`);
    await waitFor(() => stored(ids).some((event) => event.event === '$pageleave'), 20_000);

    // Page 2: no compression (JSON), closed: its unload beacon is a base64 form body.
    const second = await openPage('/plain.html');
    const visitor = await distinctIdOf(second);
    await second.evaluate(`posthog.capture('viewed_pricing', { plan: 'team' })`);
    await waitFor(() => stored([visitor]).some((event) => event.event === 'viewed_pricing'), 20_000);
    await settled(second);
    await second.close({ runBeforeUnload: true });
    await waitFor(() => stored([visitor]).some((event) => event.event === '$pageleave'), 20_000);
    // Page 3: posthog-js's default batching; two events still in the queue when the page goes away.
    const third = await openPage('/batched.html');
    const batcher = await distinctIdOf(third);
    await settled(third);
    await third.evaluate(`posthog.capture('queued_one', { n: 1 }); posthog.capture('queued_two', { n: 2 })`);
    await third.goto(`${pages.url}/away.html`);
    await waitFor(() => stored([batcher]).some((event) => event.event === '$pageleave'), 20_000);

    // Anything late (a retry, a second beacon) would land by now.
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const firstEvents = stored(ids);
    expect(uuidsUnique(firstEvents)).toBe(true);
    expect(names(firstEvents)).toEqual(['$feature_flag_called', '$identify', '$pageleave', '$pageview', 'added_to_cart', 'checkout_started']);
    const byName = Object.fromEntries(firstEvents.map((event) => [event.event, event]));
    expect(byName.$pageview).toMatchObject({ distinct_id: anonymous, properties: { $current_url: `${pages.url}/gzip.html`, $lib: 'web', $lib_version: posthogJsVersion } });
    expect(byName.added_to_cart).toMatchObject({ distinct_id: anonymous, properties: { sku: 'SKU-1', price: 9.5, tags: ['new'] } });
    expect(byName.$identify).toMatchObject({
      distinct_id: 'shopper-1',
      properties: { $anon_distinct_id: anonymous },
      // posthog-js sends the person updates of identify at the top of the event.
      $set: { email: 'shopper@example.com' },
      $set_once: { first_visit: 'today' },
    });
    expect(byName.checkout_started).toMatchObject({ distinct_id: 'shopper-1', properties: { step: 1 } });
    expect(byName.$pageleave).toMatchObject({ distinct_id: 'shopper-1', properties: { $current_url: `${pages.url}/gzip.html` } });
    expect(byName.$feature_flag_called?.properties).toMatchObject({ $feature_flag: 'beta-banner', $feature_flag_response: false });
    for (const event of firstEvents) {
      expect(event.properties).not.toHaveProperty('$feature_flag_error');
      expect(event.ip).toBe('127.0.0.1');
      // posthog-js's clock and the runtime's are the same here: skew correction keeps the time.
      expect(Math.abs(Date.parse(event.timestamp) - Date.now())).toBeLessThan(120_000);
    }

    const secondEvents = stored([visitor]);
    expect(uuidsUnique(secondEvents)).toBe(true);
    expect(names(secondEvents)).toEqual(['$pageleave', '$pageview', 'viewed_pricing']);
    expect(secondEvents.find((event) => event.event === 'viewed_pricing')?.properties).toMatchObject({ plan: 'team', $lib: 'web' });

    const thirdEvents = stored([batcher]);
    expect(uuidsUnique(thirdEvents)).toBe(true);
    expect(names(thirdEvents)).toEqual(['$pageleave', '$pageview', 'queued_one', 'queued_two']);
    expect(thirdEvents.find((event) => event.event === 'queued_two')?.properties).toMatchObject({ n: 2, $current_url: `${pages.url}/batched.html` });

    // The browser called the flags and remote config routes too, and every answer was a success.
    expect(posthogCalls.some((call) => /^POST \/flags\/? 200$/.test(call))).toBe(true);
    expect(posthogCalls.some((call) => /^GET \/array\/phc_browser_test\/config(\.js)? 200$/.test(call))).toBe(true);
    expect(problems).toEqual([]);
    expect(await metric('plugline_events_duplicate_total')).toBe(0);
    // Three pages in a browser on a machine shared with the rest of the suite: room, not a speed target.
  }, 120_000);
});
