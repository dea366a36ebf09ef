import { createObject, isFiniteNumber, jsonStringify, mathMax, mathMin } from './intrinsics.js';

/**
 * Fire-and-forget services (console, meta.logger, meta.metrics) do not cross per call: a crossing
 * waits for the Node main thread (~50 µs). Log lines are queued in order, metrics summed (max/min
 * kept) per name, and the host takes the buffer once at the end of every hook call, or earlier when
 * it grows past a bound (a plugin logging in a loop then flushes every few hundred lines; the host's
 * log rate cap and metric-name cap apply as before).
 */
export const MAX_PENDING_LOGS = 256;
export const MAX_PENDING_LOG_CHARS = 256 * 1024;
export const MAX_PENDING_METRICS = 128;
/** Longest log line kept (characters); longer lines are cut. */
export const MAX_LOG_MESSAGE = 10_000;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type MetricKind = 'increment' | 'max' | 'min';
type MetricEntry = [MetricKind, string, number];

/** The buffer of one isolate's logs and metrics. */
export interface Buffered {
  log(level: LogLevel, message: string, fields: unknown): void;
  metric(kind: MetricKind, name: string, value: number): void;
  /** The buffered logs and metrics as JSON ({ logs: [[level, message, fields JSON]], metrics: [[kind, name, value]] }), emptied; null when empty. */
  take(): string | null;
}

/**
 * @param pendingFlag int32 [2] is set to 1 while logs or metrics wait here (shared with the host, which
 *   then knows a drain is worth a crossing).
 * @param send hands a full buffer to the host early.
 */
export function createBuffered(pendingFlag: Int32Array, send: (text: string) => void): Buffered {
  let pendingLogs: [LogLevel, string, string | null][] = [];
  let pendingLogChars = 0;
  let pendingMetrics: Record<string, MetricEntry> = createObject(null);
  let pendingMetricCount = 0;

  function take(): string | null {
    if (pendingLogs.length === 0 && pendingMetricCount === 0) {
      pendingFlag[2] = 0;
      return null;
    }
    const metrics: MetricEntry[] = [];
    for (const key in pendingMetrics) metrics[metrics.length] = pendingMetrics[key]!;
    const text = jsonStringify({ logs: pendingLogs, metrics });
    pendingLogs = [];
    pendingLogChars = 0;
    pendingMetrics = createObject(null);
    pendingMetricCount = 0;
    pendingFlag[2] = 0;
    return text;
  }
  function flush(): void {
    const text = take();
    if (text !== null) send(text);
  }
  return {
    take,
    log(level, message, fields) {
      const cut = message.length > MAX_LOG_MESSAGE ? message.slice(0, MAX_LOG_MESSAGE) : message;
      // Serialized now, so fields JSON cannot carry (a BigInt) fail the plugin's call, not the hand-over.
      const fieldsJson: string | undefined = fields === undefined ? undefined : jsonStringify(fields);
      if (pendingLogs.length >= MAX_PENDING_LOGS || pendingLogChars >= MAX_PENDING_LOG_CHARS) flush();
      pendingLogs[pendingLogs.length] = [level, cut, fieldsJson === undefined ? null : fieldsJson];
      pendingLogChars += cut.length + (fieldsJson ? fieldsJson.length : 0);
      pendingFlag[2] = 1;
    },
    metric(kind, name, value) {
      if (!isFiniteNumber(value)) return;
      const key = `${kind}:${name}`;
      const entry = pendingMetrics[key];
      if (entry !== undefined) {
        entry[2] = kind === 'increment' ? entry[2] + value : kind === 'max' ? mathMax(entry[2], value) : mathMin(entry[2], value);
        return;
      }
      if (pendingMetricCount >= MAX_PENDING_METRICS) flush();
      pendingMetrics[key] = [kind, name, value];
      pendingMetricCount += 1;
      pendingFlag[2] = 1;
    },
  };
}
