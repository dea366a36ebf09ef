import type { NextFunction, Request, Response } from 'express';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** The app's own Prometheus registry and the middleware that fills it. */
export interface HttpMetrics {
  registry: Registry;
  middleware: (request: Request, response: Response, next: NextFunction) => void;
}

/**
 * Per-app Prometheus metrics (its own `Registry`, so several apps in one process do not clash):
 * `plugline_registry_http_requests_total` and `plugline_registry_http_request_duration_seconds`, both
 * labelled by method, route pattern and status, plus Node's default process metrics.
 */
export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'plugline_registry_' });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'plugline_registry_http_requests_total',
    help: 'HTTP requests handled, by method, route and status',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'plugline_registry_http_request_duration_seconds',
    help: 'HTTP request latency in seconds, by method, route and status',
    labelNames,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    registry,
    middleware(request, response, next) {
      const start = process.hrtime.bigint();
      response.once('finish', () => {
        // The route pattern (not the URL) keeps the label set small.
        const routePath = (request.route as { path?: unknown } | undefined)?.path;
        const labels = {
          method: request.method,
          route: typeof routePath === 'string' ? routePath : 'unmatched',
          status: String(response.statusCode),
        };
        requests.inc(labels);
        duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
      });
      next();
    },
  };
}
