import { createHash, timingSafeEqual } from 'node:crypto';
import { PluglineError } from '@plugline/sdk';
import express, { type Request, type Response } from 'express';
import { refuseCrossSite } from '../management-routes.js';
import { html } from './html.js';
import { page } from './layout.js';
import type { ConsoleSessions } from './session.js';

// The login page: one password field for the admin token, posted (never in a URL), answered with the
// session cookie (session.ts). Failed attempts are throttled per client address; a login from another
// site is refused like every other console POST.

const digest = (value: string) => createHash('sha256').update(value).digest();

function loginPage(dir: string, options: { error?: string; next?: string } = {}): string {
  return page(
    { session: undefined, dir },
    {
      title: 'Sign in',
      section: 'login',
      body: html`<section class="login">
<h2>Sign in to the console</h2>
<p>Paste the runtime's admin token: it is in <code>admin-token</code> in the runtime folder (the quickstart's is <code>.plugline/admin-token</code>), or the value of <code>PLUGLINE_RUNTIME_ADMIN_TOKEN</code>.</p>
${options.error ? html`<p class="flash flash-error" role="alert" id="login-error">${options.error}</p>` : ''}
<form method="post" action="/console/login">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required spellcheck="false"${options.error ? html` aria-invalid="true" aria-describedby="login-error"` : ''}>
${options.next ? html`<input type="hidden" name="next" value="${options.next}">` : ''}
<button type="submit" class="primary">Sign in</button>
</form>
</section>`,
    },
  );
}

/** Only a path inside the console (not `//host`, not `/console/login`) is a place to go back to. */
function safeNext(value: string | null): string {
  if (!value || !/^\/console(?:[/?#]|$)/.test(value) || value.startsWith('/console/login') || value.includes('\\')) return '/console';
  return value;
}

const formBody = express.text({ type: 'application/x-www-form-urlencoded', limit: '16kb' });

/** `GET/POST /console/login` and `POST /console/logout`. */
export function mountLogin(router: express.Router, options: { dir: string; adminToken: string; sessions: ConsoleSessions; sendPage: (res: Response, body: string, status: number) => void }): void {
  const expected = digest(options.adminToken);
  const html200 = (res: Response, status: number, body: string) => options.sendPage(res, body, status);

  router.get('/console/login', (req: Request, res: Response) => {
    if (options.sessions.get(req)) {
      res.redirect(303, '/console');
      return;
    }
    const next = typeof req.query.next === 'string' ? safeNext(req.query.next) : undefined;
    html200(res, 200, loginPage(options.dir, next && next !== '/console' ? { next } : {}));
  });

  router.post('/console/login', refuseCrossSite, formBody, (req: Request, res: Response) => {
    const client = req.ip ?? 'unknown';
    if (!options.sessions.mayAttempt(client)) {
      res.set('Retry-After', '60');
      html200(res, 429, loginPage(options.dir, { error: 'Too many failed sign-ins from this address: wait a minute and try again.' }));
      return;
    }
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    const token = (form.get('token') ?? '').trim();
    if (token === '' || !timingSafeEqual(digest(token), expected)) {
      options.sessions.recordFailure(client);
      html200(res, 401, loginPage(options.dir, { error: 'That is not the admin token of this runtime.' }));
      return;
    }
    const session = options.sessions.create();
    options.sessions.setCookie(res, session, req.secure);
    res.redirect(303, safeNext(form.get('next')));
  });

  router.post('/console/logout', refuseCrossSite, formBody, (req: Request, res: Response) => {
    const session = options.sessions.get(req);
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    if (session) {
      if (!options.sessions.csrfMatches(session, form.get('_csrf'))) throw new PluglineError('ERR_FORBIDDEN', 'The form is stale (CSRF token): reload the page');
      options.sessions.destroy(session);
    }
    options.sessions.clearCookie(res, req.secure);
    res.redirect(303, '/console/login');
  });
}
