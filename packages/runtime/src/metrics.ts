import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The runtime's Prometheus metrics, in a registry of its own (several runtimes may share a process). */
export function createRuntimeMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'plugline_runtime_' });
  const metrics = {
    registry,
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
    deadLetters: new Counter({ name: 'plugline_dead_letters_total', help: 'Export batches sent to the dead-letter store', labelNames: ['plugin'], registers: [registry] }),
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
