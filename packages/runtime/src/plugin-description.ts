// What GET /api/plugins, GET /api/plugins/:name and GET /api/plugins/:name/logs answer for a plugin.
import { PluglineError, redactConfig } from '@plugline/sdk';
import { requestedCapabilities } from './capabilities.js';
import type { PluginInstance, PluginLogLine } from './plugin-instance.js';
import { emptyPluginStats } from './plugin-stats.js';
import { scrubText } from './redact.js';
import type { DeliveryProgress, RuntimeStore } from './store.js';

/** What describing a plugin reads besides the plugin itself. */
export interface DescribeContext {
  store: RuntimeStore;
  /** Every plugin's delivery progress (read once for a list). */
  progress: readonly DeliveryProgress[];
  /** Every kept log line (GET /api/plugins/:name) instead of the last 50 (the list). */
  allLogs?: boolean;
}

/**
 * One plugin as `GET /api/plugins` lists it: status, hooks, grants, redacted config, quotas, error
 * counts, recent errors and logs (scrubbed of its secrets when they were kept), export progress and
 * the chain's {@link PluginStats} for its processEvent step.
 */
export function describePlugin(instance: PluginInstance, context: DescribeContext) {
  const exporting = instance.sandbox?.hooks.has('exportEvents') === true;
  return {
    name: instance.name,
    version: instance.version,
    spec: instance.entry.spec,
    integrity: instance.installed.integrity,
    enabled: instance.entry.enabled,
    status: instance.status,
    hooks: instance.sandbox ? [...instance.sandbox.hooks] : [],
    capabilities: instance.installed.manifest.capabilities ?? [],
    requested: requestedCapabilities(instance.installed.manifest),
    granted: instance.entry.grants ?? [],
    config: redactConfig(instance.installed.manifest.config, instance.status === 'running' ? instance.config : instance.entry.config),
    restarts: instance.sandbox?.restarts ?? 0,
    quotas: instance.quotas,
    quotaExceeded: instance.quotaCounter?.toJSON() ?? {},
    errors: { total: [...instance.errorCounts.values()].reduce((a, b) => a + b, 0), byCode: Object.fromEntries(instance.errorCounts) },
    recentErrors: instance.errors.slice(-20),
    recentLogs: context.allLogs ? instance.logs.slice() : instance.logs.slice(-50),
    stats: instance.has('processEvent') ? instance.stats.toJSON() : emptyPluginStats(),
    exportBuffer: exporting ? context.store.bufferStats(instance.name) : undefined,
    pendingExportBatches: exporting
      ? context.store.pendingBatches(instance.name).map((batch) => ({ ...batch, lastError: batch.lastError === null ? null : scrubText(instance, batch.lastError) }))
      : undefined,
    delivery: context.progress.find((row) => row.plugin === instance.name),
  };
}

/** One plugin of `GET /api/plugins` (and the answer of `GET /api/plugins/:name`). */
export type PluginDescription = ReturnType<typeof describePlugin>;

/** The query of `GET /api/plugins/:name/logs`. */
export interface PluginLogQuery {
  /** The lowest level answered: `debug` < `info` < `warn` < `error` (default `debug`: every line). */
  level?: PluginLogLine['level'];
  /** The newest lines answered, from 1 to the lines kept per plugin (default 100, or what is kept if fewer). */
  limit?: number;
}

const levels: readonly PluginLogLine['level'][] = ['debug', 'info', 'warn', 'error'];

/**
 * A plugin's kept log lines at `level` or above, the newest `limit` of them, newest last. Lines were
 * scrubbed of the plugin's secret config values when they were kept. `ERR_BAD_REQUEST` for an unknown
 * level or a limit outside 1..`kept`.
 */
export function selectLogs(logs: readonly PluginLogLine[], query: PluginLogQuery, kept: number): PluginLogLine[] {
  const level = query.level ?? 'debug';
  const floor = levels.indexOf(level);
  if (floor < 0) throw new PluglineError('ERR_BAD_REQUEST', `level must be one of ${levels.join(', ')}`);
  const limit = query.limit ?? Math.min(100, kept);
  if (!Number.isInteger(limit) || limit < 1 || limit > kept) throw new PluglineError('ERR_BAD_REQUEST', `limit must be an integer from 1 to ${kept} (the log lines kept per plugin)`);
  const selected = floor === 0 ? logs : logs.filter((line) => levels.indexOf(line.level) >= floor);
  return selected.slice(-limit);
}

/** A plugin's log query from the URL query string (`?level=warn&limit=100`). */
export function logQueryFrom(query: Record<string, unknown>): PluginLogQuery {
  const out: PluginLogQuery = {};
  if (query.level !== undefined) {
    if (typeof query.level !== 'string' || !levels.includes(query.level as PluginLogLine['level'])) throw new PluglineError('ERR_BAD_REQUEST', `level must be one of ${levels.join(', ')}`);
    out.level = query.level as PluginLogLine['level'];
  }
  if (query.limit !== undefined) {
    const limit = typeof query.limit === 'string' && /^\d+$/.test(query.limit) ? Number(query.limit) : Number.NaN;
    if (!Number.isInteger(limit)) throw new PluglineError('ERR_BAD_REQUEST', 'limit must be a positive integer');
    out.limit = limit;
  }
  return out;
}
