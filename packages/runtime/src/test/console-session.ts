// Test helpers for the console over plain HTTP: sign in through the login form, then post console
// forms with the session cookie and its CSRF token, as a browser would.
import { expect } from 'vitest';
import { testAdminToken } from './helpers.js';

/** A signed-in console session of the runtime at `url`. */
export interface ConsoleClient {
  cookie: string;
  csrf: string;
  /** GET a console page with the cookie (redirects not followed). */
  get(path: string): Promise<Response>;
  /** POST a console form (URL-encoded) with the cookie and the CSRF token, unless `_csrf` is given. */
  post(path: string, fields?: Record<string, string | string[]>, headers?: Record<string, string>): Promise<Response>;
}

/** A URL-encoded form body; a field with an array value is sent once per value (checkboxes). */
export function formBody(fields: Record<string, string | string[]>): { headers: { 'content-type': string }; body: string } {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
  return { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: params.toString() };
}

/** POSTs the login form of the runtime at `url`. */
export function postLogin(url: string, token = testAdminToken, extra: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const form = formBody({ token, ...extra });
  return fetch(`${url}/console/login`, { method: 'POST', redirect: 'manual', headers: { ...form.headers, ...headers }, body: form.body });
}

/** Signs in to the console of the runtime at `url` and reads the CSRF token from the chain page. */
export async function signIn(url: string): Promise<ConsoleClient> {
  const answer = await postLogin(url);
  expect(answer.status).toBe(303);
  const cookie = (answer.headers.get('set-cookie') ?? '').split(';')[0]!;
  const page = await (await fetch(`${url}/console`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  expect(csrf).toBeDefined();
  return {
    cookie,
    csrf: csrf!,
    get: (path) => fetch(`${url}${path}`, { headers: { cookie }, redirect: 'manual' }),
    post: (path, fields = {}, headers = {}) => {
      const form = formBody({ _csrf: csrf!, ...fields });
      return fetch(`${url}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, ...form.headers, ...headers }, body: form.body });
    },
  };
}
