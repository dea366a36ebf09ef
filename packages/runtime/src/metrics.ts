import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PluginStepStats } from './plugin-stats.js';
import type { DeliveryProgress } from './store.js';

/** The runtime's Prometheus metrics, in a registry of its own (several runtimes may share a process). */
export function createRuntimeMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'plugline_runtime_' });
  // The delivery gauges read the store at scrape time (one query per scrape, shared by the gauges).
  let progressSource: (() => readonly DeliveryProgress[]) | undefined;
  let cached: { at: number; rows: readonly DeliveryProgress[] } | undefined;
  const progress = (): readonly DeliveryProgress[] => {
    if (!progressSource) return [];
    if (!cached || Date.now() - cached.at > 250) cached = { at: Date.now(), rows: progressSource() };
    return cached.rows;
  };
  const progressGauge = (name: string, help: string, value: (row: DeliveryProgress) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['plugin'],
      registers: [registry],
      collect() {
        this.reset();
        let rows: readonly DeliveryProgress[];
        try {
          rows = progress();
        } catch {
          return; // a closed or busy store: no sample rather than a failed scrape
        }
        for (const row of rows) {
          const v = value(row);
          if (v !== undefined) this.set({ plugin: row.plugin }, v);
        }
      },
    });
  // The per-plugin event counters read the chain's counters (plugin-stats.ts) at scrape time: nothing on the hot path.
  let statsSource: (() => readonly { plugin: string; stats: PluginStepStats }[]) | undefined;
  const metrics = {
    registry,
    /** Where `plugline_plugin_events_total` reads from (the runtime sets it to its plugins' chain stats). */
    setPluginStatsSource(source: (() => readonly { plugin: string; stats: PluginStepStats }[]) | undefined) {
      statsSource = source;
    },
    pluginEvents: new Counter({
      name: 'plugline_plugin_events_total',
      help: "Events through a plugin's processEvent step by outcome (in, out, dropped, failed), since the plugin was loaded",
      labelNames: ['plugin', 'outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { plugin, stats } of statsSource?.() ?? []) {
          this.inc({ plugin, outcome: 'in' }, stats.eventsIn);
          this.inc({ plugin, outcome: 'out' }, stats.eventsOut);
          this.inc({ plugin, outcome: 'dropped' }, stats.dropped);
          this.inc({ plugin, outcome: 'failed' }, stats.failed);
        }
      },
    }),
    /** Where the delivery gauges read from (the runtime sets it to its store's progress). */
    setDeliveryProgressSource(source: (() => readonly DeliveryProgress[]) | undefined) {
      progressSource = source;
      cached = undefined;
    },
    eventsReceived: new Counter({ name: 'plugline_events_received_total', help: 'Events accepted by the capture API', registers: [registry] }),
    eventsStored: new Counter({ name: 'plugline_events_stored_total', help: 'Events stored after the chain', registers: [registry] }),
    eventsDropped: new Counter({ name: 'plugline_events_dropped_total', help: 'Events a plugin dropped', labelNames: ['plugin'], registers: [registry] }),
    eventsDuplicate: new Counter({ name: 'plugline_events_duplicate_total', help: 'Events skipped because their uuid was already stored', registers: [registry] }),
    payloadsInvalid: new Counter({ name: 'plugline_payloads_invalid_total', help: 'Malformed capture payloads or events (400)', registers: [registry] }),
    pluginErrors: new Counter({ name: 'plugline_plugin_errors_total', help: 'Plugin hook failures', labelNames: ['plugin', 'hook', 'code'], registers: [registry] }),
    pluginRestarts: new Counter({ name: 'plugline_plugin_restarts_total', help: 'Sandboxes disposed after a timeout or memory exhaustion', labelNames: ['plugin', 'code'], registers: [registry] }),
    pluginMetric: new Counter({ name: 'plugline_plugin_metric_total', help: 'Counters plugins report with meta.metrics.increment', labelNames: ['plugin', 'metric'], registers: [registry] }),
    pluginGauge: new Gauge({ name: 'plugline_plugin_metric', help: 'max/min values plugins report with meta.metrics', labelNames: ['plugin', 'metric', 'kind'], registers: [registry] }),
    exportBatches: new Counter({ name: 'plugline_export_batches_total', help: 'Export batch attempts by outcome', labelNames: ['plugin', 'outcome'], registers: [registry] }),
    deadLetters: new Counter({ name: 'plugline_dead_letters_total', help: 'Deliveries (export batches, onEvent retries) sent to the dead-letter store', labelNames: ['plugin'], registers: [registry] }),
    deadLettersReplayed: new Counter({
      name: 'plugline_dead_letters_replayed_total',
      help: 'Dead letters put back for delivery, by trigger (api: a replay call; recovery: redriveOnRecovery)',
      labelNames: ['plugin', 'trigger'],
      registers: [registry],
    }),
    retryAttempts: new Counter({ name: 'plugline_retry_attempts_total', help: 'Durable retry attempts (onEvent RetryError, ...) by outcome', labelNames: ['plugin', 'kind', 'outcome'], registers: [registry] }),
    hostErrors: new Counter({
      name: 'plugline_host_errors_total',
      help: 'Errors of host-side resources (postgres pools, redis, sqlite, ...) caught and survived',
      labelNames: ['resource'],
      registers: [registry],
    }),
    uncaughtErrors: new Counter({
      name: 'plugline_uncaught_errors_total',
      help: 'Exceptions and rejections that reached the process guard (logged; the process kept running)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    exportBufferedEvents: progressGauge('plugline_export_buffered_events', 'Events in a plugin\'s export buffer, not yet cut into a batch', (p) => p.bufferedEvents),
    exportBatchesPending: progressGauge('plugline_export_batches_pending', 'Export batches not yet delivered (due or waiting for a retry)', (p) => p.pendingBatches),
    exportBatchesInRetry: progressGauge('plugline_export_batches_in_retry', 'Export batches that failed and wait for their next attempt', (p) => p.batchesInRetry),
    exportNextAttempt: progressGauge(
      'plugline_export_next_attempt_timestamp_seconds',
      'When the earliest next attempt of a batch in retry is due (unix seconds; absent when none)',
      (p) => (p.nextBatchAttemptAt === null ? undefined : p.nextBatchAttemptAt / 1000),
    ),
    retriesPending: progressGauge('plugline_retries_pending', 'Durable retries of other hooks (onEvent RetryError, ...) waiting', (p) => p.pendingRetries),
    deadLettersStored: progressGauge('plugline_dead_letters_stored', 'Dead letters in the store now (replayed ones leave)', (p) => p.deadLetters),
    chainSeconds: new Histogram({
      name: 'plugline_chain_batch_seconds',
      help: 'Time one batch takes through the processEvent chain',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
  return metrics;
}

/** The metrics object of one runtime. */
export type RuntimeMetrics = ReturnType<typeof createRuntimeMetrics>;
