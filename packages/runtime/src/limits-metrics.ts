import { Counter, Gauge, type Registry } from 'prom-client';

/** The metrics of the runtime's limits, in the runtime's registry. */
export function createLimitMetrics(registry: Registry) {
  return {
    quotaExceeded: new Counter({ name: 'plugline_quota_exceeded_total', help: 'Plugin host calls refused or cut by a quota', labelNames: ['plugin', 'quota'], registers: [registry] }),
    eventsRefused: new Counter({ name: 'plugline_events_refused_total', help: 'Events refused alone before the chain (too large, too deep, not serialisable)', labelNames: ['reason'], registers: [registry] }),
    captureUnavailable: new Counter({
      name: 'plugline_capture_unavailable_total',
      help: 'Capture requests answered 503 (ingest queue full, or the runtime still starting)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    queueEvents: new Gauge({ name: 'plugline_ingest_queue_events', help: 'Events waiting in the ingest queue', registers: [registry] }),
    queueBytes: new Gauge({ name: 'plugline_ingest_queue_bytes', help: 'Characters of JSON of the events waiting in the ingest queue', registers: [registry] }),
  };
}

/** The limit metrics of one runtime. */
export type LimitMetrics = ReturnType<typeof createLimitMetrics>;
