import type { AddressInfo } from 'node:net';
import { PluglineError, isPluglineError } from '@plugline/sdk';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type Logger, pino } from 'pino';
import { decodeCaptureBody, parseCapturePayload } from './capture.js';
import { createConsoleRouter } from './console/routes.js';
import { createManagementRouter } from './management-routes.js';
import { captureContext, createPostHogRouter, type PostHogRouteOptions } from './posthog-routes.js';
import { markRejected, requestLogger } from './request-log.js';
import { Runtime, type RuntimeOptions } from './runtime.js';
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.js';
import { type EventSourceOptions, type RunningEventSource, startEventSource } from './source.js';

/**
 * Builds the runtime's HTTP app (capture API, events, plugins, dead letters, metrics). With a `nats`
 * event source the capture routes publish to the queue instead of running the chain in this request.
 */
export function createRuntimeApp(runtime: Runtime, source?: RunningEventSource, posthog: PostHogRouteOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(requestLogger(runtime.logger));
  // Raw bodies: the capture routes decode JSON/gzip/base64/form themselves. Content-Encoding gzip is inflated here.
  const rawBody = express.raw({ type: () => true, limit: '20mb', inflate: true });

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
    let result: Record<string, number>;
    if (source?.kind === 'nats') {
      // Answers only once JetStream stored every accepted event: a 200 means the event is durable.
      await source.publish(parsed.events);
      result = { queued: parsed.events.length };
    } else result = { ...(await runtime.ingest(parsed.events)) };
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
  app.use(createPostHogRouter({ ...posthog, capture: [rawBody, capture], rawBody, registry: runtime.metrics.registry }));

  app.get('/api/events', (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new PluglineError('ERR_BAD_REQUEST', 'limit must be a positive integer');
    if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') throw new PluglineError('ERR_BAD_REQUEST', 'order must be asc or desc');
    const events = runtime.queryEvents({
      ...(q.event !== undefined ? { event: q.event } : {}),
      ...(q.distinct_id !== undefined ? { distinct_id: q.distinct_id } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(q.order !== undefined ? { order: q.order } : {}),
    });
    res.json({ events, count: events.length });
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
  app.use(createConsoleRouter(runtime));

  app.get('/api/dead-letters', (req, res) => {
    const plugin = typeof req.query.plugin === 'string' ? req.query.plugin : undefined;
    const withEvents = req.query.events === '1' || req.query.events === 'true';
    res.json({ deadLetters: runtime.store.deadLetters({ ...(plugin ? { plugin } : {}), withEvents }) });
  });

  app.post('/api/dead-letters/:id/replay', (req, res) => {
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id < 1) throw new PluglineError('ERR_NOT_FOUND', `no dead letter ${req.params.id}`);
    res.status(202).json(runtime.replayDeadLetter(id));
  });

  app.get('/api/queue/dead-letters', async (req, res) => {
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
}

/** A running runtime service. */
export interface RunningRuntime {
  /** `http://host:port`, no trailing slash. */
  url: string;
  port: number;
  runtime: Runtime;
  /** The event queue connection when `source.kind` is `nats`. */
  source?: RunningEventSource;
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
  try {
    await runtime.start();
    if (options.source?.kind === 'nats') source = await startEventSource(runtime, options.source, logger);
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
  const app = createRuntimeApp(runtime, source, options.posthog);
  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<import('node:http').Server>((resolve, reject) => {
    const listening = app.listen(options.port ?? 7401, host, (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url }, 'plugline runtime listening');
  // <dir>/runtime.json: how `plugline install` and friends find this runtime to apply changes live.
  await writeRuntimeFile(options.dir, { url }).catch((error: unknown) => logger.warn({ err: error }, 'could not write runtime.json'));
  return {
    url,
    port,
    runtime,
    ...(source ? { source } : {}),
    async close() {
      await removeRuntimeFile(options.dir, url).catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // The batch in progress is stored and acked; anything not yet handled goes back to the queue.
      await source?.close();
      await runtime.close();
    },
  };
}
