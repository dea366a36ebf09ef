// The runtime's two faces. The public face (capture and what PostHog clients call) answers anyone;
// everything else (the management face: /api/*, /metrics, future console pages) needs
// `Authorization: Bearer <admin token>`. Project API keys gate what the public face accepts.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PluglineError } from '@plugline/sdk';
import type { NextFunction, Request, Response } from 'express';
import type { ConsoleSessions } from './console/session.js';
import { isPostHogPublicPath } from './posthog-routes.js';

/** The file in the runtime folder that holds a generated admin token (mode 0600). */
export const adminTokenFileName = 'admin-token';

/** Where a runtime's admin token came from. */
export interface ResolvedAdminToken {
  token: string;
  /** `option` (passed in), `env` (`PLUGLINE_RUNTIME_ADMIN_TOKEN`), `file` (read) or `generated` (written now). */
  source: 'option' | 'env' | 'file' | 'generated';
  /** The token file, when the token lives in one. */
  file?: string;
}

function checkToken(token: string, where: string): string {
  const trimmed = token.trim();
  // Short tokens are guessable; whitespace inside cannot be sent as one bearer token.
  if (trimmed.length < 16 || /\s/.test(trimmed)) throw new PluglineError('ERR_USAGE', `${where}: the admin token must have at least 16 characters and no spaces`);
  return trimmed;
}

/**
 * The admin token of the runtime in `dir`: `token` when given, else `env.PLUGLINE_RUNTIME_ADMIN_TOKEN`,
 * else the one in `<dir>/admin-token`, else a new random one written there with mode 0600.
 *
 * @example
 * ```ts
 * const { token, file } = await resolveAdminToken('.plugline/runtime', { env: process.env });
 * ```
 */
export async function resolveAdminToken(dir: string, options: { token?: string | undefined; env?: NodeJS.ProcessEnv } = {}): Promise<ResolvedAdminToken> {
  if (options.token !== undefined) return { token: checkToken(options.token, 'adminToken'), source: 'option' };
  const fromEnv = options.env?.PLUGLINE_RUNTIME_ADMIN_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') return { token: checkToken(fromEnv, 'PLUGLINE_RUNTIME_ADMIN_TOKEN'), source: 'env' };
  const file = join(dir, adminTokenFileName);
  try {
    return { token: checkToken(await readFile(file, 'utf8'), file), source: 'file', file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dir, { recursive: true });
  const token = randomBytes(32).toString('base64url');
  try {
    // `wx`: two runtimes starting on one folder do not overwrite each other's token.
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { token: checkToken(await readFile(file, 'utf8'), file), source: 'file', file };
    throw error;
  }
  await chmod(file, 0o600);
  return { token, source: 'generated', file };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether an `Authorization` header carries `Bearer <token>`; compared in constant time. */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  if (!header) return false;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  // Digests have one length, so timingSafeEqual never leaks the token's length or a prefix.
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
}

/**
 * Middleware for the management face: lets a request through only with `Authorization: Bearer <token>`,
 * else `401 ERR_UNAUTHORIZED` with no detail (the same answer for a missing and for a wrong token).
 * {@link faceGuard} applies it to every path that is not public.
 */
export function requireAdminToken(token: string) {
  const expected = digest(token);
  return (req: Request, res: Response, next: NextFunction) => {
    if (bearerMatches(req.get('authorization'), expected)) return next();
    res.status(401).set('www-authenticate', 'Bearer').json(new PluglineError('ERR_UNAUTHORIZED').toJSON());
  };
}

/**
 * The public face, as an explicit list: the routes PostHog's clients call (posthog-routes.ts'
 * `isPostHogPublicPath`: capture, batch, flags/decide, remote config, recordings, engage; the single
 * source of that list) plus `/healthz`. Whole paths are matched (a trailing slash allowed), case-
 * sensitively, so anything else, however an Express route would match it, is the management face.
 */
export function isPublicPath(path: string): boolean {
  return path === '/healthz' || isPostHogPublicPath(path);
}

/** The console's paths: `/console` and everything under it. */
export function isConsolePath(path: string): boolean {
  return path === '/console' || path.startsWith('/console/');
}

// What the login page needs before anyone signed in: the page itself and its static assets.
const consolePublicPaths = new Set(['/console/login', '/console/console.css', '/console/console.js', '/console/favicon.svg']);

/**
 * The first middleware of the runtime's app: a public path goes on; any other path needs the admin
 * token (`401 ERR_UNAUTHORIZED` with no detail), or, on a listener that serves only the public face
 * (`management: false`), is not there (`404`). Routes can be registered anywhere after it: what is not on
 * the public list is never reachable without the token.
 *
 * The console (`/console/*`) also accepts a console session cookie (console/session.ts) instead of the
 * header; its login page and static assets need neither, and a page asked for without either
 * redirects to the login page. The session is left in `res.locals.consoleSession`. Nothing outside
 * `/console/` accepts the cookie.
 */
export function faceGuard(options: { adminToken: string; management?: boolean; consoleSessions?: ConsoleSessions }) {
  const checkToken = requireAdminToken(options.adminToken);
  const expected = digest(options.adminToken);
  return (req: Request, res: Response, next: NextFunction) => {
    if (isPublicPath(req.path)) return next();
    if (options.management === false) {
      res.status(404).json(new PluglineError('ERR_NOT_FOUND', 'No such route').toJSON());
      return;
    }
    if (options.consoleSessions && isConsolePath(req.path)) {
      if (consolePublicPaths.has(req.path)) return next();
      if (bearerMatches(req.get('authorization'), expected)) return next();
      const session = options.consoleSessions.get(req);
      if (session) {
        res.locals.consoleSession = session;
        return next();
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        res.redirect(303, '/console/login');
        return;
      }
    }
    checkToken(req, res, next);
  };
}

/** The project API keys from `PLUGLINE_API_KEYS` (comma-separated), or `undefined` when unset or empty. */
export function apiKeysFromEnv(env: NodeJS.ProcessEnv): string[] | undefined {
  const keys = (env.PLUGLINE_API_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
  return keys.length > 0 ? keys : undefined;
}
