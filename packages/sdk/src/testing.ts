import { randomUUID } from 'node:crypto';
import { type ChainFailure, type ChainStep, runProcessEventChain } from './chain.js';
import { PluginError, PluglineError, isRetryError } from './errors.js';
import { validateConfig } from './manifest.js';
import { ttlEntries } from './ttl-entries.js';
import type {
  AnyPlugin,
  JsonValue,
  PluginAttachment,
  PluginConfigInput,
  PluginCache,
  PluginEvent,
  PluginLogger,
  PluginMeta,
  PluginMetrics,
  PluginStorage,
} from './plugin.js';

/**
 * An event with sensible defaults for tests; pass only what matters.
 *
 * @example
 * ```ts
 * const event = createEvent({ event: 'signed_up', properties: { plan: 'pro' } });
 * ```
 */
export function createEvent(partial: Partial<PluginEvent> = {}): PluginEvent {
  return {
    uuid: randomUUID(),
    event: '$pageview',
    distinct_id: 'test-user',
    timestamp: new Date(0).toISOString(),
    ...partial,
    properties: { ...partial.properties },
  };
}

/** A log line a plugin wrote through `meta.logger`. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: Record<string, unknown>;
}

/** A `meta` for tests, plus handles to look inside it. */
export interface TestMeta<Config = Record<string, unknown>, Global = Record<string, unknown>> extends PluginMeta<Config, Global> {
  /** What the plugin logged, in order. */
  logs: LogLine[];
  /** Metric values the plugin reported. */
  metricValues: Map<string, number>;
  /** The raw storage contents. */
  storageData: Map<string, JsonValue>;
}

/** Options of {@link createMeta}. */
export interface CreateMetaOptions<Config, Global> {
  config?: Config;
  attachments?: Record<string, PluginAttachment>;
  global?: Global;
  /** Share storage between metas (e.g. to simulate a restart). */
  storageData?: Map<string, JsonValue>;
  fetch?: typeof fetch;
  /** GeoIP lookups (default: every address is unknown, `null`). */
  geoip?: PluginMeta['geoip'];
  /** The clock the cache uses for TTLs, in ms (default `Date.now`). */
  now?: () => number;
}

/**
 * A `meta` with in-memory storage and cache, a logger that records lines, and the global `fetch`.
 *
 * @example
 * ```ts
 * const meta = createMeta({ config: { greeting: 'hi' } });
 * await plugin.processEvent?.(createEvent(), meta);
 * expect(meta.logs).toEqual([]);
 * ```
 */
export function createMeta<Config = Record<string, unknown>, Global = Record<string, unknown>>(
  options: CreateMetaOptions<Config, Global> = {},
): TestMeta<Config, Global> {
  const logs: LogLine[] = [];
  const metricValues = new Map<string, number>();
  const storageData = options.storageData ?? new Map<string, JsonValue>();
  const now = options.now ?? Date.now;
  const log =
    (level: LogLine['level']) =>
    (message: string, fields?: Record<string, unknown>): void => {
      logs.push(fields ? { level, message, fields } : { level, message });
    };
  const logger: PluginLogger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const metrics: PluginMetrics = {
    increment: (name, by = 1) => void metricValues.set(name, (metricValues.get(name) ?? 0) + by),
    max: (name, value) => void metricValues.set(name, Math.max(metricValues.get(name) ?? value, value)),
    min: (name, value) => void metricValues.set(name, Math.min(metricValues.get(name) ?? value, value)),
  };
  const storage: PluginStorage = {
    async get<T extends JsonValue>(key: string, defaultValue?: T) {
      return storageData.has(key) ? (structuredClone(storageData.get(key)) as T) : (defaultValue ?? null);
    },
    async set(key, value) {
      storageData.set(key, structuredClone(value));
    },
    async del(key) {
      storageData.delete(key);
    },
  };
  return {
    config: (options.config ?? {}) as Config,
    attachments: options.attachments ?? {},
    global: (options.global ?? {}) as Global,
    storage,
    cache: createMemoryCache(now),
    logger,
    metrics,
    fetch: options.fetch ?? globalThis.fetch,
    geoip: options.geoip ?? { locate: async () => null },
    logs,
    metricValues,
    storageData,
  };
}

/**
 * An in-memory {@link PluginCache} with TTLs; `now` is the clock in ms.
 *
 * @example
 * ```ts
 * const cache = createMemoryCache();
 * await cache.incr('hits'); // 1
 * ```
 */
export function createMemoryCache(now: () => number = Date.now): PluginCache {
  const { entries, live } = ttlEntries<JsonValue>(now);
  return {
    async get<T extends JsonValue>(key: string, defaultValue?: T) {
      const entry = live(key);
      return entry ? (structuredClone(entry.value) as T) : (defaultValue ?? null);
    },
    async set(key, value, ttlSeconds) {
      entries.set(key, { value: structuredClone(value), expiresAt: ttlSeconds ? now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY });
    },
    async incr(key, by = 1) {
      const entry = live(key);
      const next = (typeof entry?.value === 'number' ? entry.value : 0) + by;
      entries.set(key, { value: next, expiresAt: entry?.expiresAt ?? Number.POSITIVE_INFINITY });
      return next;
    },
    async expire(key, ttlSeconds) {
      const entry = live(key);
      if (!entry) return false;
      entry.expiresAt = now() + ttlSeconds * 1000;
      return true;
    },
  };
}

/**
 * A plugin in a test chain: the plugin itself, or the plugin with its identity, config and meta. In
 * {@link runChain} the config's keys are checked against the plugin's schema ({@link PluginConfigInput}):
 * a misspelt key is a type error, not only a run-time `ERR_CONFIG_INVALID`.
 */
export type ChainEntry<P extends AnyPlugin = AnyPlugin> =
  | P
  | { plugin: P; name?: string; version?: string; config?: PluginConfigInput<P>; meta?: TestMeta<never, never> };

/**
 * An entry whose `config` keys are checked against its own plugin's schema (see {@link runChain}): a
 * key outside the schema (a typo) is a type error. Values are checked at run time (`ERR_CONFIG_INVALID`),
 * not here: a config built in a variable has widened types (`'drop'` becomes `string`) that would
 * otherwise need `as const` everywhere.
 */
type CheckedEntry<E> = E extends { plugin: infer P; config: infer C }
  ? string extends keyof C // a Record<string, unknown> built at run time: only the run-time check applies
    ? E
    : Exclude<keyof C, keyof PluginConfigInput<P>> extends never
    ? E
      : { plugin: P; config: { [K in Exclude<keyof C, keyof PluginConfigInput<P>>]: never } }
  : E;

/** What {@link runChain} produced. */
export interface RunChainResult {
  /** Events that came out of the chain, in order. */
  events: PluginEvent[];
  /** Input events some plugin dropped, with the plugin that dropped each. */
  dropped: { event: PluginEvent; by: string }[];
  /** Every error, tagged with plugin, version and hook. */
  errors: PluginError[];
  /** What each plugin's `exportEvents` received, by plugin name. */
  exported: Map<string, PluginEvent[]>;
  /** The meta of each plugin, by name, to inspect logs, storage and metrics. */
  metas: Map<string, TestMeta>;
}

/**
 * Runs plugins as the runtime would, without a registry or sandbox: validates each config against the
 * plugin's schema (defaults applied), `setupPlugin`, the `processEvent` chain over every event, then
 * `onEvent` and one `exportEvents` batch with the events that survived, then `teardownPlugin`.
 *
 * @example
 * ```ts
 * const { events, dropped, errors } = await runChain([{ plugin: myPlugin, config: { mode: 'a' } }], [createEvent()]);
 * ```
 */
export async function runChain<const Entries extends readonly ChainEntry[]>(
  entries: Entries & { readonly [K in keyof Entries]: CheckedEntry<Entries[K]> },
  input: readonly PluginEvent[],
): Promise<RunChainResult> {
  const errors: PluginError[] = [];
  const exported = new Map<string, PluginEvent[]>();
  const metas = new Map<string, TestMeta>();
  const loaded = (entries as readonly ChainEntry[]).map((entry, index) => {
    const normalized = 'plugin' in entry && typeof entry.plugin === 'object' ? entry : { plugin: entry as AnyPlugin };
    const name = normalized.name ?? `plugin-${index + 1}`;
    const version = normalized.version ?? '0.0.0';
    let config = normalized.config ?? {};
    if (normalized.plugin.config) {
      const result = validateConfig(normalized.plugin.config, config);
      if (result.errors.length > 0) {
        throw new PluglineError('ERR_CONFIG_INVALID', `${name}@${version}: ${result.errors.join('; ')}`, { details: result.errors });
      }
      config = result.value as Record<string, unknown>;
    }
    const meta = (normalized.meta as TestMeta | undefined) ?? createMeta({ config });
    meta.config = config;
    metas.set(name, meta);
    return { name, version, plugin: normalized.plugin, meta };
  });
  const call = async (step: (typeof loaded)[number], hook: 'setupPlugin' | 'teardownPlugin' | 'onEvent' | 'exportEvents', ...args: unknown[]) => {
    const fn = step.plugin[hook] as ((...a: unknown[]) => unknown) | undefined;
    if (!fn) return;
    try {
      await fn(...args, step.meta);
    } catch (cause) {
      errors.push(new PluginError({ plugin: step.name, version: step.version, hook, cause, ...(isRetryError(cause) ? { message: `retry requested: ${(cause as Error).message}` } : {}) }));
    }
  };

  for (const step of loaded) await call(step, 'setupPlugin');
  const steps: ChainStep[] = loaded.map((step) => ({ name: step.name, version: step.version, processEvent: step.plugin.processEvent as ChainStep['processEvent'], meta: step.meta }));
  const output: PluginEvent[] = [];
  const dropped: RunChainResult['dropped'] = [];
  for (const event of input) {
    const result = await runProcessEventChain(steps, event);
    errors.push(...result.failures.map(toPluginError));
    if (result.event) output.push(result.event);
    else dropped.push({ event, by: result.droppedBy ?? 'unknown' });
  }
  for (const step of loaded) {
    for (const event of output) await call(step, 'onEvent', structuredClone(event));
    if (step.plugin.exportEvents && output.length > 0) {
      const batch = structuredClone(output);
      exported.set(step.name, batch);
      await call(step, 'exportEvents', batch);
    }
  }
  for (const step of [...loaded].reverse()) await call(step, 'teardownPlugin');
  return { events: output, dropped, errors, exported, metas };
}

/** Turns a chain failure (plain data) into a {@link PluginError}. */
export function toPluginError(failure: ChainFailure): PluginError {
  return new PluginError({ plugin: failure.plugin, version: failure.version, hook: failure.hook, message: failure.message });
}
