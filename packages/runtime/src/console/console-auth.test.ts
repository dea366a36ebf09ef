// The console's trust rules over plain HTTP, each with a hostile request that succeeds without it:
// the login page takes the token only in a POST body; the session cookie is HttpOnly, SameSite=Strict
// and scoped to /console; it opens the console but not the JSON API; every console action needs the
// session's CSRF token and a same-site request; failed logins are throttled; the page to return to
// after login cannot leave the console; signing out ends the session.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin } from '../project.js';
import { type RunningRuntime, startRuntime } from '../server.js';
import { formBody, postLogin, signIn } from '../test/console-session.js';
import { adminFetch, startTestRegistry, testAdminToken } from '../test/helpers.js';
import { ConsoleSessions } from './session.js';

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
let running: RunningRuntime;
let dir: string;

beforeAll(async () => {
  registry = await startTestRegistry([{ name: 'enricher', code: 'export default { processEvent(e) { e.properties.enriched = true; return e; } };' }]);
  dir = await mkdtemp(join(tmpdir(), 'plugline-console-auth-'));
  await addPlugin(dir, { name: 'enricher', registryUrl: registry.url });
  running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, schedule: false, logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await running?.close();
  await registry?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const form = (fields: Record<string, string>) => formBody(fields);
const login = (token = testAdminToken, extra: Record<string, string> = {}, headers: Record<string, string> = {}) => postLogin(running.url, token, extra, headers);
const signedIn = () => signIn(running.url);

describe('console sign-in', () => {
  it('sends a browser without a session to the login page, which needs no token, and sets nothing for a wrong token', async () => {
    const page = await fetch(`${running.url}/console`, { redirect: 'manual' });
    expect([page.status, page.headers.get('location')]).toEqual([303, '/console/login']);
    expect((await fetch(`${running.url}/console/plugins/enricher`, { redirect: 'manual' })).status).toBe(303);
    const loginPage = await fetch(`${running.url}/console/login`);
    expect(loginPage.status).toBe(200);
    expect(await loginPage.text()).toContain('name="token" type="password"');
    const wrong = await login('not-the-admin-token-at-all');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
  });

  it('never takes the token from a URL', async () => {
    const answer = await fetch(`${running.url}/console/login?token=${testAdminToken}`, { redirect: 'manual' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('set-cookie')).toBeNull();
    expect((await fetch(`${running.url}/console?token=${testAdminToken}`, { redirect: 'manual' })).status).toBe(303);
  });

  it('answers a session cookie that is HttpOnly, SameSite=Strict, scoped to /console, and goes back only inside the console', async () => {
    const answer = await login(testAdminToken, { next: '/console/exports' });
    expect([answer.status, answer.headers.get('location')]).toEqual([303, '/console/exports']);
    const cookie = answer.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^plugline_console=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    expect(cookie).toMatch(/; Path=\/console(;|$)/);
    expect(cookie).not.toContain(testAdminToken);
    for (const next of ['//evil.example/console', 'https://evil.example/', '/consolex', '/console\\@evil.example', '/console/login?next=//x']) {
      expect([next, (await login(testAdminToken, { next })).headers.get('location')]).toEqual([next, '/console']);
    }
  });

  it('refuses a login posted from another site (login CSRF)', async () => {
    expect((await login(testAdminToken, {}, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await login(testAdminToken, {}, { origin: 'https://evil.example' })).status).toBe(403);
  });
});

describe('console sessions', () => {
  it('open the console, but not the JSON API or /metrics', async () => {
    const { cookie } = await signedIn();
    expect((await fetch(`${running.url}/console/plugins/enricher`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${running.url}/api/plugins`, { headers: { cookie } })).status).toBe(401);
    expect((await fetch(`${running.url}/metrics`, { headers: { cookie } })).status).toBe(401);
    const disable = await fetch(`${running.url}/api/plugins/enricher/disable`, { method: 'POST', headers: { cookie } });
    expect(disable.status).toBe(401);
  });

  it('need the CSRF token and a same-site request for every action', async () => {
    const { cookie, csrf } = await signedIn();
    const post = (fields: Record<string, string>, headers: Record<string, string> = {}) => {
      const { body, headers: type } = form(fields);
      return fetch(`${running.url}/console/plugins/enricher/disable`, { method: 'POST', redirect: 'manual', headers: { cookie, ...type, ...headers }, body });
    };
    expect((await post({})).status).toBe(403);
    expect((await post({ _csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await post({ _csrf: csrf }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ _csrf: csrf }, { origin: 'https://evil.example' })).status).toBe(403);
    // Still running: none of those did anything.
    const plugins = (await (await adminFetch(`${running.url}/api/plugins`)).json()) as { plugins: { name: string; status: string }[] };
    expect(plugins.plugins.find((plugin) => plugin.name === 'enricher')?.status).toBe('running');
    const done = await post({ _csrf: csrf }, { 'sec-fetch-site': 'same-origin' });
    expect([done.status, done.headers.get('location')]).toEqual([303, '/console']);
    const after = (await (await adminFetch(`${running.url}/api/plugins`)).json()) as { plugins: { name: string; status: string }[] };
    expect(after.plugins.find((plugin) => plugin.name === 'enricher')?.status).toBe('disabled');
    const { body, headers: type } = form({ _csrf: csrf });
    expect((await fetch(`${running.url}/console/plugins/enricher/enable`, { method: 'POST', redirect: 'manual', headers: { cookie, ...type }, body })).status).toBe(303);
  });

  it('end at sign-out: the cookie no longer opens anything', async () => {
    const { cookie, csrf } = await signedIn();
    const { body, headers: type } = form({ _csrf: csrf });
    const out = await fetch(`${running.url}/console/logout`, { method: 'POST', redirect: 'manual', headers: { cookie, ...type }, body });
    expect([out.status, out.headers.get('location')]).toEqual([303, '/console/login']);
    expect((await fetch(`${running.url}/console`, { headers: { cookie }, redirect: 'manual' })).status).toBe(303);
  });

  it('end after their idle time and their maximum age, and the oldest goes when there are too many', () => {
    let now = 0;
    const sessions = new ConsoleSessions({ ttlMs: 1000, maxAgeMs: 5000, maxSessions: 2 }, () => now);
    const request = (id: string) => ({ get: (header: string) => (header === 'cookie' ? `plugline_console=${id}` : undefined) }) as never;
    const a = sessions.create();
    now = 900;
    expect(sessions.get(request(a.id))).toBe(a);
    now = 1800;
    expect(sessions.get(request(a.id))).toBe(a);
    now = 2900;
    expect(sessions.get(request(a.id))).toBeUndefined();
    const b = sessions.create();
    for (now = 3000; now < 8000; now += 900) expect(sessions.get(request(b.id))).toBe(b);
    now = 8100;
    expect(sessions.get(request(b.id))).toBeUndefined();
    const c = sessions.create();
    const d = sessions.create();
    const e = sessions.create();
    expect([sessions.get(request(c.id)), sessions.get(request(d.id)), sessions.get(request(e.id))]).toEqual([undefined, d, e]);
  });
});

describe('console login throttle', () => {
  it('answers 429 after 10 failed logins from one address in a minute, even for the right token then', async () => {
    // Its own runtime: the failures of the tests above do not count here.
    const emptyDir = await mkdtemp(join(tmpdir(), 'plugline-console-throttle-'));
    const fresh = await startRuntime({ dir: emptyDir, port: 0, adminToken: testAdminToken, schedule: false, logger: pino({ level: 'silent' }) });
    try {
      const attempt = (token: string) => {
        const { body, headers: type } = form({ token });
        return fetch(`${fresh.url}/console/login`, { method: 'POST', redirect: 'manual', headers: type, body });
      };
      const statuses: number[] = [];
      for (let index = 0; index < 10; index++) statuses.push((await attempt(`wrong-token-number-${index}`)).status);
      expect(statuses).toEqual(Array(10).fill(401));
      const blocked = await attempt(testAdminToken);
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('retry-after')).toBe('60');
      expect(blocked.headers.get('set-cookie')).toBeNull();
    } finally {
      await fresh.close();
      await rm(emptyDir, { recursive: true, force: true });
    }
  });
});
