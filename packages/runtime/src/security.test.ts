// Issue 14 part B against a real runtime on port 0: the two faces, project API keys, secrets that
// never come back (API, logs, errors, dead letters, plugins.json mode).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin, readProject, writeProject } from './project.js';
import { type RunningRuntime, startRuntime } from './server.js';
import { fixtures } from './test/fixtures.js';
import { adminFetch, type FixturePlugin, startTestRegistry, testAdminToken, waitFor } from './test/helpers.js';

const silent = pino({ level: 'silent' });
const mainScript = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const cleanup: (() => Promise<unknown>)[] = [];
let registry: Awaited<ReturnType<typeof startTestRegistry>>;

// Secrets hidden everywhere JSON Schema can hide one; each value is unique so a leak is findable.
const secrets = {
  token: 'ref-token-secret-1111',
  authorization: 'Bearer header-secret-2222',
  targetKey: 'array-item-secret-3333',
  branch: 'anyof-branch-secret-4444',
};

const nestedSecrets: FixturePlugin = {
  name: 'nested-secrets',
  config: {
    type: 'object',
    $defs: { credential: { type: 'object', properties: { user: { type: 'string' }, token: { type: 'string', writeOnly: true } } } },
    properties: {
      auth: { $ref: '#/$defs/credential' },
      headers: { type: 'object', additionalProperties: { type: 'string', writeOnly: true } },
      targets: { type: 'array', items: { type: 'object', properties: { url: { type: 'string' }, key: { type: 'string', writeOnly: true } } } },
      mode: { anyOf: [{ const: 'plain' }, { type: 'object', properties: { secret: { type: 'string', writeOnly: true, minLength: 20 } } }] },
      label: { type: 'string' },
    },
  },
  code: `export default {
    processEvent(e, { config, logger }) {
      console.log('calling with ' + config.auth.token + ' and ' + config.headers.Authorization);
      logger.info('fields', { leaked: config.targets[0].key });
      e.properties.used = [config.auth.token.length, config.headers.Authorization.length, config.targets[0].key.length, config.mode.secret.length, config.label];
      if (e.event === 'throw') throw new Error('upstream refused ' + config.mode.secret);
      return e;
    },
    exportEvents(events, { config }) {
      if (events.some((e) => e.event === 'retry')) throw new RetryError('receiver busy for key ' + config.targets[0].key);
      throw new Error('receiver refused key ' + config.targets[0].key);
    },
  };`,
};

const nestedConfig = {
  auth: { user: 'alice', token: secrets.token },
  headers: { Authorization: secrets.authorization },
  targets: [{ url: 'https://example.test/hook', key: secrets.targetKey }],
  mode: { secret: secrets.branch },
  label: 'visible-label',
};

async function tempDir(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A runtime with these plugins, started on port 0 with the test admin token and, optionally, a log sink. */
async function runtimeWith(plugins: { name: string; config?: Record<string, unknown> }[], options: Parameters<typeof startRuntime>[0] | Record<string, unknown> = {}) {
  const dir = await tempDir('plugline-security-');
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, config: plugin.config ?? {}, registryUrl: registry.url });
  const running = await startRuntime({ dir, port: 0, logger: silent, schedule: false, adminToken: testAdminToken, ...options });
  cleanup.push(() => running.close());
  return { dir, ...running };
}

function capture(running: Pick<RunningRuntime, 'url'>, body: unknown, path = '/capture', headers: Record<string, string> = {}) {
  return fetch(`${running.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

beforeAll(async () => {
  registry = await startTestRegistry([fixtures.first, fixtures.secretive, nestedSecrets]);
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry.close();
});

// Every management route, with what it answers once the token is right.
const managementRoutes: { method: string; path: string; body?: unknown; status: number }[] = [
  { method: 'GET', path: '/api/events', status: 200 },
  { method: 'GET', path: '/api/events?limit=1&order=asc', status: 200 },
  { method: 'GET', path: '/api/plugins', status: 200 },
  { method: 'PUT', path: '/api/plugins/first/config', body: { config: { label: 'changed' } }, status: 200 },
  { method: 'GET', path: '/api/dead-letters', status: 200 },
  { method: 'GET', path: '/api/dead-letters?events=1', status: 200 },
  { method: 'POST', path: '/api/dead-letters/DEAD_LETTER_ID/replay', status: 202 },
  { method: 'GET', path: '/api/queue/dead-letters', status: 404 },
  { method: 'GET', path: '/metrics', status: 200 },
  { method: 'GET', path: '/api/delivery', status: 200 },
  { method: 'POST', path: '/api/dead-letters/replay', body: {}, status: 400 },
  { method: 'PUT', path: '/api/plugins/first/grants', body: { grants: [] }, status: 200 },
  // The live management API (management-routes.ts), on a plugin that is not installed or a bad body.
  { method: 'POST', path: '/api/plugins', body: {}, status: 400 },
  { method: 'DELETE', path: '/api/plugins/not-installed', status: 404 },
  { method: 'POST', path: '/api/plugins/not-installed/enable', status: 404 },
  { method: 'POST', path: '/api/plugins/not-installed/disable', status: 404 },
  { method: 'PUT', path: '/api/plugins/not-installed/position', body: { index: 0 }, status: 404 },
  { method: 'PUT', path: '/api/plugins/not-installed/version', body: {}, status: 404 },
  { method: 'PUT', path: '/api/chain', body: { order: ['first'] }, status: 400 },
  // One plugin, its logs, the dry run (plugin-routes.ts, dry-run-routes.ts).
  { method: 'GET', path: '/api/plugins/first', status: 200 },
  { method: 'GET', path: '/api/plugins/first/logs', status: 200 },
  { method: 'POST', path: '/api/chain/dry-run', body: { event: { event: 'e', distinct_id: 'u' } }, status: 200 },
  // Routes that do not exist are behind the token; so are the console's (with its own answer, below).
  { method: 'GET', path: '/api/not-a-route', status: 404 },
  { method: 'GET', path: '/console', status: 200 },
  { method: 'GET', path: '/console/plugins/first', status: 200 },
];

// The console's pages: without the token (or a session) a browser is sent to the login page.
const consolePages = ['/console', '/console/', '/console/plugins/first', '/console/install', '/console/exports', '/console/tester', '/console/not-a-page'];

describe('two faces: capture is public, management needs the admin token', () => {
  let running: Awaited<ReturnType<typeof runtimeWith>>;
  let deadLetterId = 0;

  beforeAll(async () => {
    running = await runtimeWith([{ name: 'first' }, { name: 'nested-secrets', config: nestedConfig }], { exportTickMs: 10, exports: { maxEvents: 1, maxAgeMs: 10 } });
    expect((await capture(running, { event: 'to-dead-letter', distinct_id: 'u1' })).status).toBe(200);
    deadLetterId = (await waitFor(() => running.runtime.store.deadLetters()[0]))!.id;
  });

  for (const route of managementRoutes) {
    it(`${route.method} ${route.path}: 401 without a token, with a wrong one and with another scheme; ${route.status} with it`, async () => {
      const url = `${running.url}${route.path.replace('DEAD_LETTER_ID', String(deadLetterId))}`;
      const init = (headers: Record<string, string>): RequestInit => ({
        method: route.method,
        headers: { 'content-type': 'application/json', ...headers },
        ...(route.body ? { body: JSON.stringify(route.body) } : {}),
      });
      const wrong: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token-of-some-length' }, { authorization: `Bearer ${testAdminToken}x` }, { authorization: `Basic ${testAdminToken}` }, { authorization: testAdminToken }];
      for (const headers of wrong) {
        const refused = await fetch(url, { ...init(headers), redirect: 'manual' });
        if (route.path.startsWith('/console')) {
          // A page asked for without the token: the login page, and nothing of the page itself.
          expect([refused.status, refused.headers.get('location')]).toEqual([303, '/console/login']);
          expect(await refused.text()).not.toContain('first');
          continue;
        }
        expect(refused.status).toBe(401);
        // No detail: the same coded answer whatever was wrong.
        expect(await refused.json()).toEqual({ error: { code: 'ERR_UNAUTHORIZED', message: 'A valid token is required' } });
      }
      const allowed = await fetch(url, init({ authorization: `Bearer ${testAdminToken}` }));
      expect(allowed.status).toBe(route.status);
    });
  }

  it('sends a browser without the token from every console page to the login page, and refuses console forms with 401', async () => {
    for (const path of consolePages) {
      const answer = await fetch(`${running.url}${path}`, { redirect: 'manual' });
      expect([path, answer.status, answer.headers.get('location')]).toEqual([path, 303, '/console/login']);
    }
    for (const path of ['/console/plugins/first/disable', '/console/plugins/first/remove', '/console/tester', '/console/dead-letters/replay', '/console/logout']) {
      const answer = await fetch(`${running.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'plugin=first' });
      expect([path, answer.status]).toEqual([path, 401]);
    }
    const { plugins } = (await (await fetch(`${running.url}/api/plugins`, { headers: { authorization: `Bearer ${testAdminToken}` } })).json()) as { plugins: { name: string; status: string }[] };
    expect(plugins.find((plugin) => plugin.name === 'first')?.status).toBe('running');
  });

  it('guards every spelling of a management path: case, trailing slash, dot segments, encoding', async () => {
    const { request } = await import('node:http');
    const raw = (path: string) =>
      new Promise<number>((resolve, reject) => {
        // node:http sends the path as written (fetch would normalise dot segments away).
        const req = request(`${running.url}${path}`, { method: 'GET' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of ['/API/plugins', '/api/plugins/', '/Api/Events', '/metrics/', '/METRICS', '/capture/../api/plugins', '/array/../api/plugins', '/array/%2e%2e/api/plugins', '/s/..%2fapi/plugins', '//api/plugins', '/capture/x']) {
      expect(await raw(path), path).toBe(401);
    }
  });

  it('keeps every capture route and /healthz open without a token', async () => {
    for (const path of ['/capture', '/capture/', '/batch', '/batch/', '/e', '/e/', '/i/v0/e', '/i/v0/e/']) {
      const response = await capture(running, { event: 'open', distinct_id: `u-${path}` }, path);
      expect(response.status, path).toBe(200);
    }
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    // The PostHog client routes (posthog-routes.ts) are on the public list: never a 401, whatever they answer.
    for (const path of ['/flags/?v=2', '/flags', '/decide/?v=3', '/array/phc_key/config', '/array/phc_key/config.js', '/s/', '/engage/', '/track/']) {
      for (const method of ['GET', 'POST', 'OPTIONS']) expect((await fetch(`${running.url}${path}`, { method })).status, `${method} ${path}`).not.toBe(401);
    }
  });

  it('serves only the public face on the main listener with a separate management listener', async () => {
    const split = await runtimeWith([{ name: 'first' }], { managementPort: 0 });
    expect(split.managementUrl).not.toBe(split.url);
    expect((await capture(split, { event: 'e', distinct_id: 'u' })).status).toBe(200);
    const onPublic = await adminFetch(`${split.url}/api/plugins`);
    expect(onPublic.status).toBe(404);
    expect((await fetch(`${split.managementUrl}/api/plugins`)).status).toBe(401);
    expect((await adminFetch(`${split.managementUrl}/api/plugins`)).status).toBe(200);
    expect((await adminFetch(`${split.managementUrl}/metrics`)).status).toBe(200);
  });

  it('generates an admin token into the runtime folder (mode 0600) when none is given, and reuses it', async () => {
    const dir = await tempDir('plugline-security-token-');
    const first = await startRuntime({ dir, port: 0, logger: silent, schedule: false });
    expect(first.adminTokenFile).toBe(join(dir, 'admin-token'));
    expect((await stat(join(dir, 'admin-token'))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(dir, 'admin-token'), 'utf8')).trim()).toBe(first.adminToken);
    expect(first.adminToken.length).toBeGreaterThanOrEqual(32);
    expect((await adminFetch(`${first.url}/api/plugins`, {}, first.adminToken)).status).toBe(200);
    await first.close();
    const second = await startRuntime({ dir, port: 0, logger: silent, schedule: false });
    cleanup.push(() => second.close());
    expect(second.adminToken).toBe(first.adminToken);
    await expect(startRuntime({ dir, port: 0, logger: silent, schedule: false, adminToken: 'short' })).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });
});

describe('plugline-runtime (the binary)', () => {
  async function startBinary(dir: string, env: Record<string, string>) {
    if (!existsSync(mainScript)) throw new Error('packages/runtime/dist/main.js is missing: build @plugline/runtime first');
    const child = spawn(process.execPath, [mainScript], {
      env: { ...process.env, PLUGLINE_RUNTIME_DIR: dir, PLUGLINE_RUNTIME_PORT: '0', LOG_LEVEL: 'info', PLUGLINE_RUNTIME_ADMIN_TOKEN: '', PLUGLINE_API_KEYS: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(async () => child.kill('SIGKILL'));
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const listening = /"url":"(http:[^"]+)"[^\n]*plugline runtime listening/.exec(output);
        if (listening && /management routes need/.test(output)) resolve(listening[1]!);
      });
      child.once('exit', (code) => reject(new Error(`plugline-runtime exited with ${code}: ${output}`)));
    });
    return { url, output: () => output, stop: () => child.kill('SIGTERM') };
  }

  it('generates a token file (mode 0600), logs where it is and never the token', async () => {
    const dir = await tempDir('plugline-security-bin-');
    const runtime = await startBinary(dir, {});
    const file = join(dir, 'admin-token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = (await readFile(file, 'utf8')).trim();
    expect(runtime.output()).toContain(file);
    expect(runtime.output()).not.toContain(token);
    expect((await fetch(`${runtime.url}/api/plugins`)).status).toBe(401);
    expect((await adminFetch(`${runtime.url}/api/plugins`, {}, token)).status).toBe(200);
    runtime.stop();
  });

  it('takes PLUGLINE_RUNTIME_ADMIN_TOKEN (no file written) and PLUGLINE_API_KEYS', async () => {
    const dir = await tempDir('plugline-security-bin-');
    const token = 'an-operator-chosen-token-0001';
    const runtime = await startBinary(dir, { PLUGLINE_RUNTIME_ADMIN_TOKEN: token, PLUGLINE_API_KEYS: 'phc_one, phc_two' });
    expect(existsSync(join(dir, 'admin-token'))).toBe(false);
    expect(runtime.output()).not.toContain(token);
    expect((await adminFetch(`${runtime.url}/api/plugins`, {}, token)).status).toBe(200);
    expect((await capture(runtime, { api_key: 'phc_two', event: 'e', distinct_id: 'u' })).status).toBe(200);
    expect((await capture(runtime, { api_key: 'phc_three', event: 'e', distinct_id: 'u' })).status).toBe(401);
    runtime.stop();
  });
});

describe('project API keys', () => {
  const refusedInvalid = {
    type: 'authentication_error',
    code: 'invalid_api_key',
    detail: expect.stringContaining('Project API key invalid'),
    attr: null,
    error: { code: 'ERR_UNAUTHORIZED', message: expect.any(String) },
  };

  it('accepts every key when no list is configured', async () => {
    const running = await runtimeWith([]);
    expect((await capture(running, { api_key: 'anything-at-all', event: 'e', distinct_id: 'u' })).status).toBe(200);
    expect((await capture(running, { event: 'no key', distinct_id: 'u' })).status).toBe(200);
  });

  it('accepts the configured keys wherever PostHog clients put them and refuses others as PostHog does', async () => {
    const running = await runtimeWith([], { apiKeys: ['phc_good', 'phc_other'] });
    const accepted = [
      capture(running, { api_key: 'phc_good', batch: [{ event: 'node', distinct_id: 'u' }] }, '/batch'),
      capture(running, { token: 'phc_other', event: 'token', distinct_id: 'u' }),
      capture(running, [{ event: 'js', distinct_id: 'u', properties: { token: 'phc_good' } }], '/e'),
      capture(running, { event: 'query', distinct_id: 'u' }, '/capture?api_key=phc_good'),
      fetch(`${running.url}/e`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ data: JSON.stringify({ event: 'form', distinct_id: 'u', properties: { token: 'phc_good' } }) }).toString(),
      }),
    ];
    for (const response of await Promise.all(accepted)) expect(response.status).toBe(200);
    expect(running.runtime.queryEvents().map((event) => event.event).sort()).toEqual(['form', 'js', 'node', 'query', 'token']);

    const refused = [
      await capture(running, { api_key: 'phc_wrong', batch: [{ event: 'bad-node', distinct_id: 'u' }] }, '/batch'),
      await capture(running, [{ event: 'bad-js', distinct_id: 'u', properties: { token: 'phc_wrong' } }], '/e'),
      // One event of a batch with a foreign key refuses the whole request.
      await capture(running, [{ event: 'mixed-1', distinct_id: 'u', properties: { token: 'phc_good' } }, { event: 'mixed-2', distinct_id: 'u', properties: { token: 'phc_wrong' } }], '/e'),
      await capture(running, { event: 'bad-query', distinct_id: 'u' }, '/i/v0/e?api_key=phc_wrong'),
    ];
    for (const response of refused) {
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual(refusedInvalid);
    }
    const missing = await capture(running, { event: 'no-key', distinct_id: 'u' });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
    expect(running.runtime.queryEvents()).toHaveLength(5);
  });

  it('reads the list from plugins.json (apiKeys)', async () => {
    const dir = await tempDir('plugline-security-keys-');
    await writeProject(dir, { ...(await readProject(dir)), apiKeys: ['phc_from_file'] });
    const running = await startRuntime({ dir, port: 0, logger: silent, schedule: false, adminToken: testAdminToken });
    cleanup.push(() => running.close());
    expect((await capture(running, { api_key: 'phc_from_file', event: 'e', distinct_id: 'u' })).status).toBe(200);
    expect((await capture(running, { api_key: 'phc_nope', event: 'e', distinct_id: 'u' })).status).toBe(401);
  });
});

describe('secrets never come back', () => {
  const leaks = (text: string) => Object.values(secrets).filter((secret) => text.includes(secret) || text.includes(secret.replace('Bearer ', '')));

  it('masks nested secrets in /api/plugins, config answers, logs, errors and dead letters; a masked secret keeps its value', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const running = await runtimeWith([{ name: 'nested-secrets', config: nestedConfig }], {
      logger: pino({ level: 'debug' }, sink),
      exportTickMs: 10,
      // A retried batch waits a minute: its last error stays visible in /api/plugins.
      exports: { maxEvents: 1, maxAgeMs: 10, backoffBaseMs: 60_000, backoffMaxMs: 60_000 },
    });
    expect((await stat(join(running.dir, 'plugins.json'))).mode & 0o777).toBe(0o600);

    for (const event of ['ok', 'throw', 'retry']) expect((await capture(running, { event, distinct_id: 'u1' })).status).toBe(200);
    await waitFor(() => running.runtime.store.pendingBatches('nested-secrets').some((batch) => batch.lastError !== null));
    const used = running.runtime.queryEvents({ event: 'ok' })[0]!.properties.used;
    expect(used).toEqual([secrets.token.length, secrets.authorization.length, secrets.targetKey.length, secrets.branch.length, 'visible-label']);
    await waitFor(() => running.runtime.store.deadLetters().length > 0);

    const plugins = await (await adminFetch(`${running.url}/api/plugins`)).text();
    expect(JSON.parse(plugins).plugins[0].config).toEqual({
      auth: { user: 'alice', token: '********' },
      headers: { Authorization: '********' },
      targets: [{ url: 'https://example.test/hook', key: '********' }],
      mode: { secret: '********' },
      label: 'visible-label',
    });
    // The plugin logged and threw its secrets: kept and answered masked.
    expect(plugins).toContain('calling with ********');
    expect(plugins).toContain('upstream refused ********');
    expect(plugins).toContain('receiver busy for key ********');
    expect(leaks(plugins)).toEqual([]);
    const deadLetters = await (await adminFetch(`${running.url}/api/dead-letters`)).text();
    expect(deadLetters).toContain('receiver refused key ********');
    expect(leaks(deadLetters)).toEqual([]);

    // GET-modify-PUT round trip: every mask keeps its stored value, the changed label is taken.
    const roundTrip = JSON.parse(plugins).plugins[0].config;
    roundTrip.label = 'changed-label';
    const put = await adminFetch(`${running.url}/api/plugins/nested-secrets/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ config: roundTrip }) });
    expect(put.status).toBe(200);
    const putText = await put.text();
    expect(JSON.parse(putText).config).toMatchObject({ auth: { token: '********' }, label: 'changed-label' });
    expect(leaks(putText)).toEqual([]);
    const stored = JSON.parse(await readFile(join(running.dir, 'plugins.json'), 'utf8')).plugins[0].config;
    expect(stored).toEqual({ ...nestedConfig, label: 'changed-label' });
    expect((await stat(join(running.dir, 'plugins.json'))).mode & 0o777).toBe(0o600);
    await capture(running, { event: 'after', distinct_id: 'u1' });
    expect(running.runtime.queryEvents({ event: 'after' })[0]!.properties.used).toEqual([secrets.token.length, secrets.authorization.length, secrets.targetKey.length, secrets.branch.length, 'changed-label']);

    // A rejected config (nested secret too short) is not echoed.
    const tooShort = 'short-new-secret';
    const bad = await adminFetch(`${running.url}/api/plugins/nested-secrets/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ config: { ...roundTrip, mode: { secret: tooShort } } }),
    });
    expect(bad.status).toBe(400);
    const badText = await bad.text();
    expect(badText).toContain('ERR_CONFIG_INVALID');
    expect(badText).not.toContain(tooShort);

    // The process log: the plugin's log lines and errors, the config change; never a secret.
    const log = lines.join('');
    expect(log).toContain('calling with ********');
    expect(log).toContain('plugin config changed');
    expect(leaks(log)).toEqual([]);
  });

  it('writes plugins.json with mode 0600 even when it was world-readable before, and narrows it at start', async () => {
    const dir = await tempDir('plugline-security-mode-');
    await writeFile(join(dir, 'plugins.json'), JSON.stringify({ plugins: [] }), { mode: 0o644 });
    await addPlugin(dir, { name: 'secretive', config: { apiKey: 'long-enough-secret' }, registryUrl: registry.url });
    expect((await stat(join(dir, 'plugins.json'))).mode & 0o777).toBe(0o600);
    // A file an older version left readable by others is narrowed when the runtime starts.
    await chmod(join(dir, 'plugins.json'), 0o644);
    const running = await startRuntime({ dir, port: 0, logger: silent, schedule: false, adminToken: testAdminToken });
    cleanup.push(() => running.close());
    expect((await stat(join(dir, 'plugins.json'))).mode & 0o777).toBe(0o600);
  });
});
