// The PostHog routes over HTTP against a real runtime on port 0: CORS, flags, decide, remote config, /s/, /engage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { isPostHogPublicPath, POSTHOG_PUBLIC_ROUTES, postHogOptionsFromEnv } from './posthog-routes.js';
import { type StartRuntimeOptions, startRuntime } from './server.js';
import { adminFetch, testAdminToken } from './test/helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

async function runtime(options: Partial<StartRuntimeOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-posthog-routes-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: pino({ level: 'silent' }), schedule: false, ...options });
  cleanup.push(() => running.close());
  return running;
}

const { url, runtime: core } = await runtime();

async function post(path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }, base = url) {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers, body });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

const preflight = (path: string, origin: string, base = url) =>
  fetch(`${base}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-tenant' },
  });

describe('CORS', () => {
  it('answers preflights on every PostHog route (204, any origin, the asked headers, no credentials)', async () => {
    for (const path of ['/e/', '/i/v0/e/', '/batch/', '/capture/', '/engage/', '/s/', '/flags/?v=2', '/decide/?v=3', '/array/phc_x/config', '/array/phc_x/config.js']) {
      const response = await preflight(path, 'https://shop.example');
      expect(response.status, path).toBe(204);
      expect(response.headers.get('access-control-allow-origin'), path).toBe('*');
      expect(response.headers.get('access-control-allow-methods'), path).toContain('POST');
      expect(response.headers.get('access-control-allow-headers'), path).toBe('content-type,x-tenant');
      expect(response.headers.get('access-control-allow-credentials'), path).toBeNull();
    }
  });

  it('marks answers to browsers, errors included, and leaves the management routes closed to them', async () => {
    const ok = await post('/e/', JSON.stringify({ event: 'cors', distinct_id: 'c' }), { 'content-type': 'text/plain', origin: 'https://shop.example' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect(ok.headers.get('access-control-expose-headers')).toContain('Retry-After');
    const bad = await post('/e/', '{nope', { 'content-type': 'text/plain', origin: 'https://shop.example' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('*');
    const management = await fetch(`${url}/api/events`, { headers: { origin: 'https://shop.example' } });
    expect(management.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight('/api/plugins/x/config', 'https://shop.example')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with an allowlist, answers only the listed origins', async () => {
    const listed = await runtime({ posthog: { corsOrigins: ['https://app.example'] } });
    const allowed = await preflight('/e/', 'https://app.example', listed.url);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('vary')).toContain('Origin');
    const other = await preflight('/e/', 'https://evil.example', listed.url);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const sent = await post('/e/', JSON.stringify({ event: 'x', distinct_id: 'y' }), { 'content-type': 'text/plain', origin: 'https://evil.example' }, listed.url);
    expect(sent.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("answers Chrome's Private Network Access preflight for allowed origins only", async () => {
    const ask = (origin: string, base = url) =>
      fetch(`${base}/e/`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-private-network': 'true' } });
    expect((await ask('https://shop.example')).headers.get('access-control-allow-private-network')).toBe('true');
    const listed = await runtime({ posthog: { corsOrigins: ['https://app.example'] } });
    expect((await ask('https://app.example', listed.url)).headers.get('access-control-allow-private-network')).toBe('true');
    expect((await ask('https://evil.example', listed.url)).headers.get('access-control-allow-private-network')).toBeNull();
  });

  it('reads PLUGLINE_CORS_ORIGINS and PLUGLINE_ANONYMIZE_IPS', () => {
    expect(postHogOptionsFromEnv({})).toEqual({});
    expect(postHogOptionsFromEnv({ PLUGLINE_CORS_ORIGINS: ' https://a.example , https://b.example ' })).toEqual({ corsOrigins: ['https://a.example', 'https://b.example'] });
    expect(postHogOptionsFromEnv({ PLUGLINE_CORS_ORIGINS: '*', PLUGLINE_ANONYMIZE_IPS: 'true' })).toEqual({ corsOrigins: '*', anonymizeIps: true });
  });

  it('lists the public PostHog routes for a guard to leave open, and nothing else', () => {
    expect(POSTHOG_PUBLIC_ROUTES).toContain('/flags');
    for (const path of ['/flags/definitions', '/e', '/e/', '/i/v0/e/', '/batch/', '/capture', '/track/', '/engage/', '/s/', '/flags/', '/decide', '/array/phc_1/config', '/array/phc_1/config.js', '/i/v0/ai/batch/']) {
      expect(isPostHogPublicPath(path), path).toBe(true);
    }
    for (const path of ['/api/events', '/api/plugins', '/metrics', '/healthz', '/array/a/b/config', '/e/x', '/flagsx', '/']) expect(isPostHogPublicPath(path), path).toBe(false);
  });
});

describe('flags and decide', () => {
  const flagsBody = JSON.stringify({ token: 'phc_x', distinct_id: 'u', flag_keys_to_evaluate: ['checkout'] });

  it('/flags?v=2 answers no flags, the named ones disabled, in the v2 shape', async () => {
    const answer = await post('/flags/?v=2', flagsBody);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ errorsWhileComputingFlags: false, quotaLimited: [], flags: { checkout: { key: 'checkout', enabled: false, variant: null } } });
    expect(answer.body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.body).not.toHaveProperty('featureFlags');
    expect((await post('/flags/?v=2', JSON.stringify({ distinct_id: 'u' }))).body).toMatchObject({ flags: {} });
    // With config=true (posthog-node's remote config with flags) the remote config comes along.
    expect((await post('/flags/?v=2&config=true', flagsBody)).body).toMatchObject({ flags: { checkout: { enabled: false } }, supportedCompression: ['gzip', 'gzip-js'] });
  });

  it('decodes flags bodies as capture does (gzip-js, base64 form) and refuses garbage', async () => {
    const gz = await post('/flags/?v=2', gzipSync(flagsBody), { 'content-type': 'text/plain' });
    expect(gz.body).toMatchObject({ flags: { checkout: { enabled: false } } });
    const formBody = `data=${encodeURIComponent(Buffer.from(JSON.stringify({ distinct_id: 'u', flag_keys: ['beta'] })).toString('base64'))}`;
    const form = await post('/flags/?v=2&compression=base64', formBody, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.body).toMatchObject({ flags: { beta: { enabled: false } } });
    expect((await post('/flags/?v=2', '{nope')).body).toMatchObject({ error: { code: 'ERR_PAYLOAD_INVALID' } });
  });

  it('/flags v1 and /decide v1 to v4 answer in their own shapes, /decide with remote config', async () => {
    expect((await post('/flags/', flagsBody)).body).toMatchObject({ featureFlags: { checkout: false }, featureFlagPayloads: {} });
    expect((await post('/decide/?v=1', flagsBody)).body).toMatchObject({ featureFlags: [] });
    for (const version of [2, 3]) {
      const decide = await post(`/decide/?v=${version}`, flagsBody);
      expect(decide.body).toMatchObject({ featureFlags: { checkout: false }, featureFlagPayloads: {}, supportedCompression: ['gzip', 'gzip-js'], sessionRecording: false, config: { enable_collect_everything: true } });
    }
    const v4 = await post('/decide/?v=4', flagsBody);
    expect(v4.body).toMatchObject({ flags: { checkout: { enabled: false } }, sessionRecording: false });
    const get = await fetch(`${url}/decide/?v=3&data=${encodeURIComponent(Buffer.from(flagsBody).toString('base64'))}`);
    expect(await get.json()).toMatchObject({ featureFlags: { checkout: false } });
  });
});

describe('remote config', () => {
  it('/array/<token>/config answers a config that keeps the client defaults', async () => {
    const response = await fetch(`${url}/array/phc_abc/config`);
    expect(response.status).toBe(200);
    const config = (await response.json()) as Record<string, unknown>;
    expect(config).toMatchObject({ token: 'phc_abc', supportedCompression: ['gzip', 'gzip-js'], sessionRecording: false, surveys: false, siteApps: [] });
    // No analytics endpoint and no hasFeatureFlags: the client keeps /e/ and still loads flags.
    expect(config).not.toHaveProperty('analytics');
    expect(config).not.toHaveProperty('hasFeatureFlags');
    expect((await fetch(`${url}/array/bad%20token/config`)).status).toBe(400);
  });

  it('/array/<token>/config.js sets window._POSTHOG_REMOTE_CONFIG[token] as posthog-js reads it', async () => {
    const response = await fetch(`${url}/array/phc_abc/config.js`);
    expect(response.headers.get('content-type')).toContain('application/javascript');
    const window: Record<string, unknown> = {};
    runInNewContext(await response.text(), { window });
    expect(window._POSTHOG_REMOTE_CONFIG).toMatchObject({ phc_abc: { config: { token: 'phc_abc', supportedCompression: ['gzip', 'gzip-js'] }, siteApps: [] } });
  });
});

describe('recordings, engage, and capture query parameters', () => {
  it('/s/ accepts recordings and discards them (counted), never 404', async () => {
    const before = core.store.countEvents();
    const snapshots = [{ event: '$snapshot', properties: { $snapshot_data: [{ type: 2 }], $session_id: 's1' }, distinct_id: 'u', sent_at: new Date().toISOString() }];
    const answer = await post('/s/', gzipSync(JSON.stringify(snapshots)), { 'content-type': 'text/plain' });
    expect(answer).toMatchObject({ status: 200, body: { status: 1, accepted: 1, stored: 0 } });
    expect(core.store.countEvents()).toBe(before);
    expect(await (await adminFetch(`${url}/metrics`)).text()).toMatch(/plugline_recording_snapshots_discarded_total 1/);
  });

  it('stores events sent to every capture path, with or without the trailing slash', async () => {
    const paths = ['/capture', '/capture/', '/batch', '/batch/', '/e', '/e/', '/i/v0/e', '/i/v0/e/', '/track/', '/i/v0/ai/batch/', '/engage/'];
    for (const [index, path] of paths.entries()) {
      const answer = await post(path, JSON.stringify({ api_key: 'phc_x', batch: [{ event: `path-${index}`, distinct_id: 'paths' }] }));
      expect(answer, path).toMatchObject({ status: 200, body: { status: 1, stored: 1 } });
    }
    expect(core.queryEvents({ distinct_id: 'paths', limit: 100 })).toHaveLength(paths.length);
  });

  it('/engage stores person updates as $identify', async () => {
    const body = `data=${encodeURIComponent(Buffer.from(JSON.stringify({ $set: { plan: 'pro' }, $token: 'phc_x', $distinct_id: 'engaged' })).toString('base64'))}`;
    expect((await post('/engage/?compression=base64', body, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(200);
    expect(core.queryEvents({ distinct_id: 'engaged' })).toMatchObject([{ event: '$identify', $set: { plan: 'pro' } }]);
  });

  it('accepts numeric timestamps, corrects skew with ?_= and records no address with ?ip=0', async () => {
    const now = Date.now();
    expect((await post('/e/', JSON.stringify({ event: 'numeric', distinct_id: 'q', timestamp: now - 60_000 }))).status).toBe(200);
    expect(Date.parse(core.queryEvents({ event: 'numeric' })[0]!.timestamp)).toBe(now - 60_000);
    // The client is one hour ahead; its sent_at comes in the query (posthog-js's timestampMode "query").
    await post(`/e/?_=${now + 3_600_000}`, JSON.stringify({ event: 'skewed', distinct_id: 'q', timestamp: new Date(now + 3_600_000 - 5000).toISOString() }));
    expect(Math.abs(Date.parse(core.queryEvents({ event: 'skewed' })[0]!.timestamp) - (now - 5000))).toBeLessThan(30_000);
    await post('/e/?ip=0', JSON.stringify({ event: 'no-ip', distinct_id: 'q' }));
    const noIp = core.queryEvents({ event: 'no-ip' })[0]!;
    expect(noIp.ip).toBeUndefined();
    expect(noIp.properties).not.toHaveProperty('$ip');
    await post('/e/?ver=1.449.2', JSON.stringify({ event: 'with-ip', distinct_id: 'q' }));
    expect(core.queryEvents({ event: 'with-ip' })[0]).toMatchObject({ ip: '127.0.0.1', properties: { $ip: '127.0.0.1' } });
  });

  it('with anonymizeIps keeps no address at all', async () => {
    const anonymous = await runtime({ posthog: { anonymizeIps: true } });
    await post('/e/', JSON.stringify({ event: 'anon', distinct_id: 'a', properties: { $ip: '198.51.100.7' } }), { 'content-type': 'application/json' }, anonymous.url);
    const event = anonymous.runtime.queryEvents({ event: 'anon' })[0]!;
    expect(event.ip).toBeUndefined();
    expect(event.properties).not.toHaveProperty('$ip');
  });
});
