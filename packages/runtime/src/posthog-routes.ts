// The routes PostHog's client libraries call, besides capture itself: CORS for all of them, feature
// flags (`/flags`, `/decide`) answering "no flags", remote config, session recordings, `/engage`.
import { randomUUID } from 'node:crypto';
import { PluglineError } from '@plugline/sdk';
import cors from 'cors';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { Counter, type Registry } from 'prom-client';
import { decodeCaptureBody } from './capture-decode.js';
import type { CaptureContext } from './capture-semantics.js';

/** PostHog-facing settings of the runtime (`startRuntime({ posthog })`). */
export interface PostHogRouteOptions {
  /**
   * Origins allowed to call the PostHog routes from a browser: `'*'` (default: any origin) or a list
   * of exact origins (`https://app.example.com`). Env: `PLUGLINE_CORS_ORIGINS` (comma-separated, or `*`).
   */
  corsOrigins?: '*' | readonly string[];
  /** PostHog's "discard client IP data": events keep no `ip` and no `$ip`. Env: `PLUGLINE_ANONYMIZE_IPS=1`. */
  anonymizeIps?: boolean;
  /** What `/s/` (session recordings) does with snapshots: `'discard'` (the only mode: accepted, counted, dropped). */
  recordings?: 'discard';
}

/** Capture paths PostHog clients send events to (each also with a trailing slash). */
export const POSTHOG_CAPTURE_PATHS = ['/capture', '/batch', '/e', '/i/v0/e', '/track', '/i/v0/ai/batch', '/engage'] as const;

/**
 * Every public PostHog route (Express paths; each also answers with a trailing slash): what a browser
 * or a server-side PostHog client calls without a token. Anything else (`/api/*`, `/metrics`) is the
 * management face.
 */
export const POSTHOG_PUBLIC_ROUTES = [...POSTHOG_CAPTURE_PATHS, '/s', '/flags', '/flags/definitions', '/decide', '/array/:token/config', '/array/:token/config.js'] as const;

const PUBLIC_PATH = /^\/(?:capture|batch|e|i\/v0\/e|track|i\/v0\/ai\/batch|engage|s|flags|flags\/definitions|decide|array\/[^/]+\/config(?:\.js)?)\/?$/;

/** Whether `path` (no query) is a public PostHog route, for guards that must leave those open. */
export function isPostHogPublicPath(path: string): boolean {
  return PUBLIC_PATH.test(path);
}

/** Reads `PLUGLINE_CORS_ORIGINS` and `PLUGLINE_ANONYMIZE_IPS`. */
export function postHogOptionsFromEnv(env: Record<string, string | undefined>): PostHogRouteOptions {
  const options: PostHogRouteOptions = {};
  const origins = env.PLUGLINE_CORS_ORIGINS?.trim();
  if (origins) {
    const list = origins
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean);
    options.corsOrigins = list.includes('*') ? '*' : list;
  }
  const anonymize = env.PLUGLINE_ANONYMIZE_IPS?.trim().toLowerCase();
  if (anonymize === '1' || anonymize === 'true' || anonymize === 'yes') options.anonymizeIps = true;
  return options;
}

/** The capture context of a request: its address (unless `?ip=0` or anonymized), `?_=`/`?sent_at=`, `/engage`. */
export function captureContext(req: Request, options: PostHogRouteOptions = {}): CaptureContext {
  const context: CaptureContext = { now: new Date() };
  const query = req.query as Record<string, unknown>;
  if (options.anonymizeIps) context.anonymizeIps = true;
  else if (query.ip !== '0' && query.ip !== 'false' && req.ip) context.ip = req.ip;
  const sentAt = typeof query.sent_at === 'string' ? query.sent_at : typeof query._ === 'string' ? query._ : undefined;
  if (sentAt && /^\d{10,16}$/.test(sentAt)) context.sentAt = Number(sentAt);
  if (/^\/engage\/?$/.test(req.path)) context.defaultEvent = '$identify';
  return context;
}

/** The CORS middleware of the PostHog routes: preflights answered (204), no credentials, any origin or a list. */
export function postHogCors(options: PostHogRouteOptions = {}): RequestHandler {
  const allowed = options.corsOrigins ?? '*';
  const handler = cors({
    origin: allowed === '*' ? '*' : (origin, callback) => callback(null, origin !== undefined && allowed.includes(origin) ? origin : false),
    methods: ['GET', 'POST', 'OPTIONS'],
    // allowedHeaders unset: the headers a preflight asks for are allowed (Content-Type and any `request_headers`).
    exposedHeaders: ['Retry-After'],
    maxAge: 86_400,
    credentials: false,
    optionsSuccessStatus: 204,
  });
  return (req, res, next) => {
    // Chrome's Private Network Access: a public page calling a runtime on a private or loopback address
    // asks first; the same origin rule answers.
    const origin = req.get('origin');
    if (req.method === 'OPTIONS' && req.get('access-control-request-private-network') === 'true' && origin && (allowed === '*' || allowed.includes(origin))) {
      res.set('access-control-allow-private-network', 'true');
    }
    handler(req, res, next);
  };
}

// Remote config, in the shape of PostHog's `/array/<token>/config`, with every product off, so the
// client keeps its own defaults (gzip-js compression, `/e/` endpoint, autocapture as configured).
function remoteConfig(token: string): Record<string, unknown> {
  return {
    token,
    supportedCompression: ['gzip', 'gzip-js'],
    autocapture_opt_out: false,
    autocaptureExceptions: false,
    capturePerformance: false,
    sessionRecording: false,
    heatmaps: false,
    surveys: false,
    siteApps: [],
  };
}

/** Flag keys a flags request names: posthog-node's `flag_keys_to_evaluate`, posthog-js's `flag_keys`. */
function requestedKeys(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null) return [];
  const record = payload as Record<string, unknown>;
  const keys = Array.isArray(record.flag_keys_to_evaluate) ? record.flag_keys_to_evaluate : Array.isArray(record.flag_keys) ? record.flag_keys : [];
  return [...new Set(keys.filter((key): key is string => typeof key === 'string' && key.length > 0 && key.length <= 400))].slice(0, 1000);
}

const DISABLED_REASON = { code: 'flag_disabled', condition_index: null, description: 'The Plugline runtime evaluates no feature flags' };

/**
 * The flags answer: no flag is on. Keys the client named are answered as disabled (so a client asking
 * for a flag gets `false`, not "missing"); the v2 shape (`flags`) for `/flags?v>=2` and `/decide?v>=4`,
 * the legacy shapes (`featureFlags`) for older versions; `/decide` (and `config=true`) add remote config.
 */
export function flagsAnswer(route: 'flags' | 'decide', version: number, keys: readonly string[], withConfig: boolean, token: string): Record<string, unknown> {
  const answer: Record<string, unknown> = { errorsWhileComputingFlags: false, quotaLimited: [], requestId: randomUUID(), evaluatedAt: Date.now() };
  const modern = route === 'flags' ? version >= 2 : version >= 4;
  if (modern) {
    answer.flags = Object.fromEntries(
      keys.map((key) => [key, { key, enabled: false, variant: null, reason: DISABLED_REASON, metadata: { id: 0, version: 0, payload: null, description: null } }]),
    );
  } else if (route === 'decide' && version < 2) {
    answer.featureFlags = [];
  } else {
    answer.featureFlags = Object.fromEntries(keys.map((key) => [key, false]));
    answer.featureFlagPayloads = {};
  }
  if (route === 'decide' || withConfig) {
    Object.assign(answer, remoteConfig(token), { config: { enable_collect_everything: true }, toolbarParams: {}, isAuthenticated: false });
  }
  return answer;
}

function optionalPayload(req: Request): unknown {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  if (body.length > 0) return decodeCaptureBody(body, req.get('content-type'), typeof req.query.compression === 'string' ? req.query.compression : undefined);
  // Old clients sent GET /decide?data=<base64>.
  const data = typeof req.query.data === 'string' ? req.query.data : undefined;
  return data ? decodeCaptureBody(Buffer.from(`data=${encodeURIComponent(data)}`), 'application/x-www-form-urlencoded', undefined) : undefined;
}

function tokenOf(payload: unknown, req: Request): string {
  const record = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  const token = record.token ?? record.api_key ?? req.query.token;
  return typeof token === 'string' ? token.slice(0, 200) : '';
}

const TOKEN = /^[A-Za-z0-9_\-.]{1,200}$/;

/** Settings of {@link createPostHogRouter}. */
export interface PostHogRouterOptions extends PostHogRouteOptions {
  /** The capture handlers (body parser first), mounted on every capture path. */
  capture: RequestHandler[];
  /** The raw body parser used by the capture routes (flags and recordings read bodies too). */
  rawBody: RequestHandler;
  /** Where `/s/` counts what it discards. */
  registry?: Registry;
}

/**
 * The public PostHog routes with their CORS: capture (the handlers given), `/flags`, `/decide`, remote
 * config, `/s/`. Mount it before the runtime's own routes.
 */
export function createPostHogRouter(options: PostHogRouterOptions): express.Router {
  const router = express.Router();
  const corsMiddleware = postHogCors(options);
  router.use((req, res, next) => (isPostHogPublicPath(req.path) ? corsMiddleware(req, res, next) : next()));

  for (const path of POSTHOG_CAPTURE_PATHS) router.post(path, ...options.capture);

  const metricName = 'plugline_recording_snapshots_discarded_total';
  const discarded =
    (options.registry?.getSingleMetric(metricName) as Counter | undefined) ??
    new Counter({
      name: metricName,
      help: 'Session recording snapshots accepted on /s/ and discarded (the runtime stores no recordings)',
      registers: options.registry ? [options.registry] : [],
    });
  router.post('/s', options.rawBody, (req: Request, res: Response) => {
    const payload = optionalPayload(req);
    if (payload === undefined) throw new PluglineError('ERR_PAYLOAD_INVALID', 'The request body is empty');
    const items = Array.isArray(payload) ? payload.length : Array.isArray((payload as { batch?: unknown })?.batch) ? (payload as { batch: unknown[] }).batch.length : 1;
    discarded.inc(items);
    res.json({ status: 1, accepted: items, stored: 0 });
  });

  const flags = (route: 'flags' | 'decide') => (req: Request, res: Response) => {
    const payload = optionalPayload(req);
    const version = Number(typeof req.query.v === 'string' ? req.query.v : 1);
    const withConfig = req.query.config === 'true' || req.query.config === '1';
    res.json(flagsAnswer(route, Number.isFinite(version) ? version : 1, requestedKeys(payload), withConfig, tokenOf(payload, req)));
  };
  // posthog-node's local evaluation (with a personal API key) polls the definitions: there are none.
  router.get('/flags/definitions', (_req, res) => {
    res.json({ flags: [], group_type_mapping: {}, cohorts: {} });
  });
  for (const route of ['flags', 'decide'] as const) {
    router.post(`/${route}`, options.rawBody, flags(route));
    router.get(`/${route}`, flags(route));
  }

  router.get('/array/:token/config', (req, res) => {
    const token = String(req.params.token);
    if (!TOKEN.test(token)) throw new PluglineError('ERR_BAD_REQUEST', 'The project token must be 1 to 200 letters, digits, "_", "-" or "."');
    res.set('cache-control', 'public, max-age=300').json(remoteConfig(token));
  });
  router.get('/array/:token/config.js', (req, res) => {
    const token = String(req.params.token);
    if (!TOKEN.test(token)) throw new PluglineError('ERR_BAD_REQUEST', 'The project token must be 1 to 200 letters, digits, "_", "-" or "."');
    const config = JSON.stringify({ config: remoteConfig(token), siteApps: [] }).replace(/</g, '\\u003c');
    res
      .type('application/javascript')
      .set('cache-control', 'public, max-age=300')
      .set('x-content-type-options', 'nosniff')
      .send(
        `(function(){var w=window;w._POSTHOG_REMOTE_CONFIG=w._POSTHOG_REMOTE_CONFIG||{};w._POSTHOG_REMOTE_CONFIG[${JSON.stringify(token)}]=${config};})();\n`,
      );
  });
  return router;
}
