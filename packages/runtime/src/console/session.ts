import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';
import type { Request, Response } from 'express';

// Console sessions. The login page takes the admin token once (a form POST: the token never appears in
// a URL) and answers with a session cookie: random, HttpOnly, SameSite=Strict, Path=/console, Secure
// when the request came over TLS. Sessions live in this process only (a restart signs everyone out) and
// expire after `ttlMs` of idleness or `maxAgeMs` in all. The cookie opens the console's pages and
// actions only (/console/*); the JSON API (/api/*) keeps requiring the Bearer token. Every console
// action is a POST carrying the session's CSRF token (a hidden field), checked in constant time, on top
// of SameSite=Strict and the Sec-Fetch-Site/Origin check (see routes.ts).

/** The console's session cookie. */
export const sessionCookieName = 'plugline_console';

/** One signed-in browser. */
export interface ConsoleSession {
  id: string;
  /** The value every console form sends as `_csrf`. */
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
  /** A message for the next page this session loads ("Plugin added", an error), then cleared. */
  flash?: { kind: 'ok' | 'error'; text: string };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Options of {@link ConsoleSessions}. */
export interface ConsoleSessionOptions {
  /** Idle time after which a session ends (default 12 h). */
  ttlMs?: number;
  /** Age after which a session ends however active (default 7 days). */
  maxAgeMs?: number;
  /** Sessions kept at most (default 1,000); past it the least recently used one ends. */
  maxSessions?: number;
  /** Failed logins per client address per minute before 429 (default 10). */
  failuresPerMinute?: number;
}

/**
 * The console's sessions and login throttle, one per runtime app.
 *
 * @example
 * ```ts
 * const sessions = new ConsoleSessions();
 * const session = sessions.create();
 * sessions.setCookie(res, session, req.secure);
 * ```
 */
export class ConsoleSessions {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly failures = new Map<string, { count: number; windowStart: number }>();
  private readonly ttlMs: number;
  private readonly maxAgeMs: number;
  private readonly maxSessions: number;
  private readonly failuresPerMinute: number;

  constructor(options: ConsoleSessionOptions = {}, private readonly now: () => number = Date.now) {
    this.ttlMs = options.ttlMs ?? 12 * 60 * 60 * 1000;
    this.maxAgeMs = options.maxAgeMs ?? 7 * 24 * 60 * 60 * 1000;
    this.maxSessions = options.maxSessions ?? 1000;
    this.failuresPerMinute = options.failuresPerMinute ?? 10;
  }

  /** A new session (after the token was checked). */
  create(): ConsoleSession {
    const at = this.now();
    const session: ConsoleSession = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), createdAt: at, lastSeenAt: at };
    if (this.sessions.size >= this.maxSessions) {
      // Map order is insertion order and `get` re-inserts: the first key is the least recently used.
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session a request's cookie names, refreshed; `undefined` when none or expired. */
  get(req: Request): ConsoleSession | undefined {
    const id = parseCookie(req.get('cookie') ?? '')[sessionCookieName];
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const at = this.now();
    if (at - session.lastSeenAt > this.ttlMs || at - session.createdAt > this.maxAgeMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = at;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  /** Ends a session. */
  destroy(session: ConsoleSession): void {
    this.sessions.delete(session.id);
  }

  /** Whether `sent` (a form's `_csrf`) is the session's CSRF token; constant time. */
  csrfMatches(session: ConsoleSession, sent: unknown): boolean {
    return typeof sent === 'string' && timingSafeEqual(digest(sent), digest(session.csrf));
  }

  /** Sets the session cookie (HttpOnly, SameSite=Strict, Path=/console; Secure over TLS). */
  setCookie(res: Response, session: ConsoleSession, secure: boolean): void {
    res.cookie(sessionCookieName, session.id, { httpOnly: true, sameSite: 'strict', path: '/console', secure, maxAge: this.maxAgeMs });
  }

  /** Clears the session cookie. */
  clearCookie(res: Response, secure: boolean): void {
    res.clearCookie(sessionCookieName, { httpOnly: true, sameSite: 'strict', path: '/console', secure });
  }

  /** Whether `client` may try another login now (fewer than `failuresPerMinute` failures this minute). */
  mayAttempt(client: string): boolean {
    const entry = this.failures.get(client);
    return !entry || this.now() - entry.windowStart >= 60_000 || entry.count < this.failuresPerMinute;
  }

  /** Counts a failed login of `client`. */
  recordFailure(client: string): void {
    const at = this.now();
    const entry = this.failures.get(client);
    if (!entry || at - entry.windowStart >= 60_000) {
      if (this.failures.size >= 10_000) this.failures.clear();
      this.failures.set(client, { count: 1, windowStart: at });
    } else entry.count += 1;
  }
}
