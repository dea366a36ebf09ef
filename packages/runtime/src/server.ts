import type { AddressInfo } from 'node:net';
import { PluglineError, isPluglineError } from '@plugline/sdk';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type Logger, pino } from 'pino';
import { ProjectKeys, projectKeyRefusal, requestKeys } from './api-keys.js';
import { faceGuard, resolveAdminToken } from './auth.js';
import { decodeCaptureBody, parseCapturePayload } from './capture.js';
import { deadLetterFilterFrom, mountDeliveryRoutes } from './delivery-routes.js';
import { createConsoleRouter } from './console/routes.js';
import { ConsoleSessions } from './console/session.js';
import { createDryRunRouter } from './dry-run-routes.js';
import { createManagementRouter } from './management-routes.js';
import { createPluginRouter } from './plugin-routes.js';
import { captureContext, createPostHogRouter, type PostHogRouteOptions } from './posthog-routes.js';
import { markRejected, requestLogger } from './request-log.js';
import { readProject, restrictProjectMode } from './project.js';
import { InflightBodies, screenEvents } from './limits.js';
import { Runtime, type RuntimeOptions } from './runtime.js';
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.js';
import { type EventSourceOptions, type RunningEventSource, startEventSource } from './source.js';

/** Options of {@link createRuntimeApp}: which faces it serves and how they are guarded. */
export interface RuntimeAppOptions {
  /** The admin token every management route needs (`Authorization: Bearer <token>`). */
  adminToken: string;
  /** `false`: this app serves only the public face (management is on its own listener); default true. */
  management?: boolean;
  /** Project API keys the capture routes accept; `undefined` or empty accepts every key. */
  apiKeys?: readonly string[];
  /** PostHog client settings: CORS origins, IP anonymization, recordings (see posthog-routes.ts). */
  posthog?: PostHogRouteOptions;
}

/**
 * Builds the runtime's HTTP app (capture API, events, plugins, dead letters, metrics). With a `nats`
 * event source the capture routes publish to the queue instead of running the chain in this request.
 * Two faces, guarded before any route runs (`faceGuard`, auth.ts): the paths on the explicit public
 * list (capture, what PostHog clients call, `/healthz`) answer anyone; every other path (the management
 * face: `/api/*`, `/metrics`, unknown paths) needs the admin token.
 */
export function createRuntimeApp(
  runtime: Runtime,
  eventSource: RunningEventSource | (() => RunningEventSource | undefined) | undefined,
  options: RuntimeAppOptions,
): express.Express {
  // The source may be connected after the server listens (see startRuntime): read it per request.
  const currentSource = () => (typeof eventSource === 'function' ? eventSource() : eventSource);
  const projectKeys = options.apiKeys && options.apiKeys.length > 0 ? new ProjectKeys(options.apiKeys) : undefined;
  const posthog = options.posthog ?? {};
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(requestLogger(runtime.logger));
  const consoleSessions = new ConsoleSessions();
  app.use(faceGuard({ ...options, consoleSessions }));
  // Raw bodies: the capture routes decode JSON/gzip/base64/form themselves. Content-Encoding gzip is inflated here.
  const rawBody = express.raw({ type: () => true, limit: runtime.limits.maxRequestBytes, inflate: true });
  // Backpressure before a byte is read: 503 + Retry-After while the chain loads, or when the bodies
  // being received would pass maxInflightRequestBytes (a Content-Encoding gzip body is reserved at
  // its inflated cap, others at their Content-Length).
  const inflight = new InflightBodies(runtime.limits);
  const admission = (req: Request, res: Response, next: NextFunction) => {
    const refuse = (error: PluglineError) => {
      res.set('Retry-After', String(runtime.limits.retryAfterSeconds));
      next(error);
    };
    if (!runtime.ready) return refuse(runtime.startingError());
    const length = req.get('content-length');
    const release = inflight.reserve(req.get('content-encoding') ? undefined : length === undefined ? undefined : Number(length));
    if (!release) {
      runtime.limitMetrics.captureUnavailable.inc({ reason: 'inflight_bytes' });
      return refuse(new PluglineError('ERR_UNAVAILABLE', 'too many request bodies are being received at once: retry later'));
    }
    res.once('close', release);
    res.once('finish', release);
    next();
  };

  const capture = async (req: Request, res: Response) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const compression = typeof req.query.compression === 'string' ? req.query.compression : undefined;
    let parsed: ReturnType<typeof parseCapturePayload>;
    try {
      parsed = parseCapturePayload(decodeCaptureBody(body, req.get('content-type'), compression), captureContext(req, posthog));
    } catch (error) {
      runtime.metrics.payloadsInvalid.inc();
      throw error;
    }
    const refusal = projectKeyRefusal(projectKeys, requestKeys(req, parsed.apiKey, parsed.events));
    if (refusal) {
      res.status(refusal.status).json(refusal.body);
      return;
    }
    let result: Record<string, number>;
    const source = currentSource();
    if (source?.kind === 'nats') {
      // The per-event bounds hold before the queue too (a refused event is reported, the others published).
      const screened = screenEvents(parsed.events, runtime.limits, (code) => runtime.limitMetrics.eventsRefused.inc({ reason: code }));
      for (const entry of screened.refused) parsed.errors.push(`event ${entry.uuid}: ${entry.reason}`);
      parsed.events = screened.accepted;
      // Answers only once JetStream stored every accepted event: a 200 means the event is durable.
      await source.publish(parsed.events);
      result = { queued: parsed.events.length };
    } else {
      let ingested: Awaited<ReturnType<Runtime['ingest']>>;
      try {
        ingested = await runtime.ingest(parsed.events);
      } catch (error) {
        if (isPluglineError(error) && (error as PluglineError).code === 'ERR_UNAVAILABLE') res.set('Retry-After', String(runtime.limits.retryAfterSeconds));
        throw error;
      }
      const { refused, ...counts } = ingested;
      result = counts;
      // Events refused alone (too large, too deep): reported like malformed ones, the others stored.
      if (refused) {
        for (const entry of refused) parsed.errors.push(`event ${entry.uuid}: ${entry.reason}`);
        parsed.events = parsed.events.filter((_, index) => !refused.some((entry) => entry.index === index));
      }
    }
    if (parsed.errors.length > 0) {
      runtime.metrics.payloadsInvalid.inc(parsed.errors.length);
      const error = new PluglineError('ERR_PAYLOAD_INVALID', `${parsed.errors.length} of ${parsed.errors.length + parsed.events.length} events are malformed: ${parsed.errors.slice(0, 5).join('; ')}`, {
        details: parsed.errors,
      });
      markRejected(res, error.message);
      res.status(400).json({ ...error.toJSON(), accepted: parsed.events.length, ...result });
      return;
    }
    res.json({ status: 1, accepted: parsed.events.length, ...result });
  };
  // The PostHog routes (capture paths, /flags, /decide, remote config, /s/) with their CORS: posthog-routes.ts.
  app.use(createPostHogRouter({ ...posthog, capture: [admission, rawBody, capture], rawBody, registry: runtime.metrics.registry }));

  app.get('/api/events', (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new PluglineError('ERR_BAD_REQUEST', 'limit must be a positive integer');
    if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') throw new PluglineError('ERR_BAD_REQUEST', 'order must be asc or desc');
    const { events, truncated } = runtime.store.queryEventPage({
      ...(q.event !== undefined ? { event: q.event } : {}),
      ...(q.distinct_id !== undefined ? { distinct_id: q.distinct_id } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(q.order !== undefined ? { order: q.order } : {}),
    });
    res.json({ events, count: events.length, ...(truncated ? { truncated } : {}) });
  });

  app.get('/api/plugins', (_req, res) => {
    res.json({ plugins: runtime.describePlugins() });
  });

  app.put('/api/plugins/:name/config', express.json({ limit: '1mb' }), async (req, res) => {
    const body = req.body as { config?: unknown } | undefined;
    if (!body || typeof body !== 'object' || typeof body.config !== 'object' || body.config === null || Array.isArray(body.config)) {
      throw new PluglineError('ERR_BAD_REQUEST', 'The body must be { "config": { ... } }');
    }
    res.json(await runtime.setPluginConfig(String(req.params.name), body.config as Record<string, unknown>));
  });

  app.put('/api/plugins/:name/grants', express.json({ limit: '64kb' }), async (req, res) => {
    const body = req.body as { grants?: unknown } | undefined;
    if (!body || !Array.isArray(body.grants) || !body.grants.every((grant) => typeof grant === 'string')) {
      throw new PluglineError('ERR_BAD_REQUEST', 'The body must be { "grants": ["net:host[:port]", "postgres", ...] }');
    }
    res.json(await runtime.setPluginGrants(String(req.params.name), body.grants as string[]));
  });

  app.use(createManagementRouter(runtime));
  app.use(createPluginRouter(runtime));
  app.use(createDryRunRouter(runtime, posthog));
  app.use(createConsoleRouter(runtime, { adminToken: options.adminToken, sessions: consoleSessions, posthog }));

  app.get('/api/dead-letters', (req, res) => {
    const { events, ...filter } = req.query as Record<string, unknown>;
    const withEvents = events === '1' || events === 'true';
    const deadLetters = runtime.store.deadLetters({ ...deadLetterFilterFrom(filter), withEvents });
    // A composeWebhook dead letter holds the composed request (headers built from secrets): scrubbed like the reason.
    res.json({ deadLetters: deadLetters.map((letter) => ({ ...letter, reason: runtime.scrubPluginText(letter.plugin, letter.reason), events: runtime.scrubPluginValue(letter.plugin, letter.events) })) });
  });
  mountDeliveryRoutes(app, runtime);

  app.post('/api/dead-letters/:id/replay', (req, res) => {
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id < 1) throw new PluglineError('ERR_NOT_FOUND', `no dead letter ${req.params.id}`);
    res.status(202).json(runtime.replayDeadLetter(id));
  });

  app.get('/api/queue/dead-letters', async (req, res) => {
    const source = currentSource();
    if (source?.kind !== 'nats') throw new PluglineError('ERR_NOT_FOUND', 'There is no event queue: the runtime runs with --source inline');
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new PluglineError('ERR_BAD_REQUEST', 'limit must be an integer from 1 to 10000');
    const deadLetters = await source.deadLetters(limit);
    res.json({ deadLetters, count: deadLetters.length });
  });

  app.get('/metrics', async (_req, res) => {
    res.set('content-type', runtime.metrics.registry.contentType).send(await runtime.metrics.registry.metrics());
  });

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  app.use((_req: Request, _res: Response) => {
    throw new PluglineError('ERR_NOT_FOUND', 'No such route');
  });

  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    let coded: PluglineError;
    if (isPluglineError(error)) coded = error as PluglineError;
    else if (typeof (error as { status?: unknown }).status === 'number' && (error as { status: number }).status < 500) {
      // body-parser errors: bad JSON, bad gzip, too large.
      const status = (error as { status: number }).status;
      coded =
        status === 413
          ? new PluglineError('ERR_PAYLOAD_INVALID', 'The request body is too large')
          : new PluglineError(req.path.startsWith('/api/') ? 'ERR_BAD_REQUEST' : 'ERR_PAYLOAD_INVALID', (error as Error).message);
      if (!req.path.startsWith('/api/')) runtime.metrics.payloadsInvalid.inc();
    } else {
      runtime.logger.error({ err: error, path: req.path }, 'request failed');
      coded = new PluglineError('ERR_INTERNAL');
    }
    const status = (error as { status?: number }).status === 413 ? 413 : coded.status;
    if (coded.code === 'ERR_PAYLOAD_INVALID') markRejected(res, coded.message);
    res.status(status).json(coded.toJSON());
  });
  return app;
}

/** Options of {@link startRuntime}. */
export interface StartRuntimeOptions extends Omit<RuntimeOptions, 'logger'> {
  /** TCP port (default 7401; 0 picks a free one). */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  logger?: Logger;
  /** Where captured events go: `{ kind: 'inline' }` (default) or `{ kind: 'nats', url, role?, ... }`. */
  source?: EventSourceOptions;
  /** PostHog client settings: CORS origins, IP anonymization, recordings (see posthog-routes.ts). */
  posthog?: PostHogRouteOptions;
  /**
   * The admin token the management routes need (at least 16 characters). Default: the one in
   * `<dir>/admin-token`, generated there (mode 0600) on first start.
   */
  adminToken?: string;
  /**
   * Project API keys the capture routes accept (PostHog's `api_key` / `token`). Default: `apiKeys` in
   * plugins.json; with neither, every key is accepted.
   */
  apiKeys?: readonly string[];
  /**
   * Serve the management face on its own listener (this port; 0 picks one) and only the public face on
   * `port`. Default: both faces on `port`.
   */
  managementPort?: number;
  /** Interface of the management listener (default 127.0.0.1). */
  managementHost?: string;
  /** Called once the port is open, before the plugins are set up (capture answers 503 until they are). */
  onListening?: (url: string) => void;
}

/** A running runtime service. */
export interface RunningRuntime {
  /** `http://host:port`, no trailing slash. */
  url: string;
  port: number;
  runtime: Runtime;
  /** The event queue connection when `source.kind` is `nats`. */
  source?: RunningEventSource;
  /** The token the management routes need: `Authorization: Bearer <adminToken>`. */
  adminToken: string;
  /** The file the admin token was read from or generated into (absent when it was passed in). */
  adminTokenFile?: string;
  /** The management listener's `http://host:port` (`url` itself when both faces share one listener). */
  managementUrl: string;
  /** Stops listening, then closes the runtime (buffers stay on disk). */
  close(): Promise<void>;
}

/**
 * Starts the runtime and its HTTP service.
 *
 * @example
 * ```ts
 * const { url, close } = await startRuntime({ dir: '.plugline/runtime', port: 0 });
 * await fetch(`${url}/capture`, { method: 'POST', body: JSON.stringify({ event: 'hi', distinct_id: 'u1' }) });
 * await close();
 * ```
 */
export async function startRuntime(options: StartRuntimeOptions): Promise<RunningRuntime> {
  const logger = options.logger ?? pino({ name: 'plugline-runtime' });
  const runtime = new Runtime({ ...options, logger });
  let source: RunningEventSource | undefined;
  const servers: import('node:http').Server[] = [];
  const closeServers = () =>
    Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  // The ports open at once: plugin setup (and PostHog-style setup retries) never keeps them closed.
  // Until the chain is loaded, capture answers 503 with Retry-After (clients retry); the other
  // routes answer from what is known so far.
  let faces: Awaited<ReturnType<typeof listenFaces>>;
  try {
    faces = await listenFaces(runtime, () => source, options, logger, servers);
  } catch (error) {
    await closeServers();
    await runtime.close().catch(() => undefined);
    throw error;
  }
  options.onListening?.(faces.url);
  try {
    await runtime.start();
    if (options.source?.kind === 'nats') {
      // Capture publishes to the queue: still 503 until it is connected (set back before any request runs).
      runtime.ready = false;
      source = await startEventSource(runtime, options.source, logger);
      runtime.ready = true;
    }
  } catch (error) {
    await closeServers();
    await source?.close().catch(() => undefined);
    await runtime.close().catch(() => undefined);
    throw error;
  }
  // Logged once capture is served (scripts and tests wait for this line).
  logger.info({ url: faces.url }, 'plugline runtime listening');
  // <dir>/runtime.json: how `plugline install` and friends find this runtime to apply changes live.
  await writeRuntimeFile(options.dir, { url: faces.managementUrl }).catch((error: unknown) => logger.warn({ err: error }, 'could not write runtime.json'));
  return {
    ...faces,
    runtime,
    ...(source ? { source } : {}),
    async close() {
      await removeRuntimeFile(options.dir, faces.managementUrl).catch(() => undefined);
      await closeServers();
      // The batch in progress is stored and acked; anything not yet handled goes back to the queue.
      await source?.close();
      await runtime.close();
    },
  };
}

/** Resolves the token and keys, then listens: one listener with both faces, or a public and a management one. */
async function listenFaces(runtime: Runtime, source: () => RunningEventSource | undefined, options: StartRuntimeOptions, logger: Logger, servers: import('node:http').Server[]) {
  const admin = await resolveAdminToken(options.dir, { token: options.adminToken });
  const widerMode = await restrictProjectMode(options.dir);
  if (widerMode !== undefined) logger.warn({ file: 'plugins.json', was: widerMode.toString(8) }, 'plugins.json holds secrets and was readable by others: its mode is now 0600');
  const apiKeys = options.apiKeys ?? (await readProject(options.dir)).apiKeys;
  const listen = async (app: express.Express, port: number, host: string) => {
    const server = await new Promise<import('node:http').Server>((resolve, reject) => {
      const listening = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(listening)));
    });
    servers.push(server);
    const actual = (server.address() as AddressInfo).port;
    return { port: actual, url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}` };
  };
  const separate = options.managementPort !== undefined;
  const appOptions = { adminToken: admin.token, ...(apiKeys ? { apiKeys } : {}), ...(options.posthog ? { posthog: options.posthog } : {}) };
  const main = await listen(createRuntimeApp(runtime, source, { ...appOptions, management: !separate }), options.port ?? 7401, options.host ?? '127.0.0.1');
  const management = separate ? await listen(createRuntimeApp(runtime, source, appOptions), options.managementPort ?? 0, options.managementHost ?? '127.0.0.1') : main;
  logger.info(
    {
      url: main.url,
      managementUrl: management.url,
      // Where the token is, never the token.
      adminToken: admin.file ?? (admin.source === 'option' ? 'passed in' : admin.source),
      apiKeys: apiKeys && apiKeys.length > 0 ? apiKeys.length : 'any',
    },
    admin.source === 'generated' ? `plugline runtime port open, loading plugins; a new admin token was written to ${admin.file}` : 'plugline runtime port open, loading plugins',
  );
  return { url: main.url, port: main.port, managementUrl: management.url, adminToken: admin.token, ...(admin.file ? { adminTokenFile: admin.file } : {}) };
}
