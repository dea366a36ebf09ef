import {
  type ErrorCode,
  type HookName,
  type PluginEvent,
  PluginError,
  PluglineError,
  isPluglineError,
  redactConfig,
} from '@plugline/sdk';
import { randomUUID } from 'node:crypto';
import { type Logger, pino } from 'pino';
import { requestedCapabilities, ungrantedError } from './capabilities.js';
import { runSandboxedChain } from './chain.js';
import type { InstalledPlugin } from './install.js';
import { type RuntimeMetrics, createRuntimeMetrics } from './metrics.js';
import { type PluginEntry, checkConfig, installProject, projectPaths, readProject, setPluginConfig, setPluginGrants } from './project.js';
import { defaultSetupRetryDelaysMs, setupWithRetries, splitAttachments } from './posthog.js';
import { type EgressMode, pluginPermissions } from './sandbox/egress.js';
import { MemoryCache, type PluginStorageBackend, closePostgresPools, createSandboxHost } from './sandbox/host.js';
import { PluginSandbox } from './sandbox/sandbox.js';
import { type SharedPluginState, createRedisPluginState } from './state.js';
import { StoreLeases } from './state-leases.js';
import { type EventQuery, RuntimeStore } from './store.js';

/** Options of {@link Runtime}. */
export interface RuntimeOptions {
  /** The runtime project directory (`plugins.json`, `plugins.lock.json`, `cache/`, `data/`). */
  dir: string;
  /** Registry to install unpinned plugins from (default: `registry` in plugins.json). */
  registryUrl?: string;
  logger?: Logger;
  /** Default V8 heap cap per plugin isolate, MB (default 64). */
  memoryLimitMb?: number;
  /** Default CPU-time cap per hook call, ms (default 1000); a batch crossing gets `perEventTimeoutMs` more per event. */
  timeoutMs?: number;
  /** Extra CPU time per event of a batch crossing, ms (default 1). */
  perEventTimeoutMs?: number;
  /** Default wall-clock cap per crossing including awaited fetch/storage, ms (default 30 000). */
  wallTimeoutMs?: number;
  /** Most events sent into a sandbox per crossing (default 1000). */
  maxBatchEvents?: number;
  /** Batches in the chain at once, pipelined across the plugins' isolates (default 2). */
  maxConcurrentBatches?: number;
  /** Export-buffer defaults (per plugin overridable in plugins.json `settings`). */
  exports?: Partial<ExportSettings>;
  /** How often buffers and retries are checked, ms (default 200). */
  exportTickMs?: number;
  /** Run `runEveryMinute/Hour/Day` on timers (default true). */
  schedule?: boolean;
  /** Delays between `setupPlugin` attempts of a PostHog-format plugin (default 1, 2, 4, 8 s: 5 attempts). */
  setupRetryDelaysMs?: readonly number[];
  /** Lines of recent logs and errors kept per plugin (default 100). */
  recentLines?: number;
  /**
   * Where the SQLite store lives (default `<dir>/data`). Worker processes on one machine may share one
   * data directory (SQLite WAL): the uuid dedupe then holds across them.
   */
  dataDir?: string;
  /**
   * How long a claim on an export batch or PostHog job lasts without renewal, ms (default 5000). The
   * runtime renews its claims every third of this while the work runs, so a runtime that dies holding one
   * delays that work by at most this long (less after a restart on the same machine, which frees the
   * claims of exited processes at once).
   */
  leaseMs?: number;
  /** Redis URL: when set, `meta.storage` and `meta.cache` live in Redis, shared by every worker. */
  redisUrl?: string;
  /** First segment of the Redis keys (default `plugline`). */
  redisKeyPrefix?: string;
  /** Egress without a `net:` grant: `public` (default; `egress` in plugins.json) or `granted` (allowlist only). */
  egress?: EgressMode;
}

/** When an export buffer is flushed and how a failing batch is retried. */
export interface ExportSettings {
  /** Flush when this many events are buffered (default 1000). */
  maxEvents: number;
  /** Flush when the buffered events reach this many bytes of JSON (default 1 MiB). */
  maxBytes: number;
  /** Flush when the oldest buffered event is this old, ms (default 10 000). */
  maxAgeMs: number;
  /** Attempts before a batch goes to the dead-letter store (default 3). */
  maxAttempts: number;
  /** Backoff before the 2nd attempt, ms; doubles each time, with jitter (default 1000). */
  backoffBaseMs: number;
  /** Largest backoff, ms (default 60 000). */
  backoffMaxMs: number;
}

const defaultExportSettings: ExportSettings = { maxEvents: 1000, maxBytes: 1024 * 1024, maxAgeMs: 10_000, maxAttempts: 3, backoffBaseMs: 1000, backoffMaxMs: 60_000 };

/** A log line or error kept for `GET /api/plugins`. */
export interface PluginLogLine {
  at: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: Record<string, unknown>;
}

/** A recorded plugin failure. */
export interface PluginErrorRecord {
  at: string;
  code: ErrorCode;
  hook: HookName;
  message: string;
  eventUuid?: string;
}

/** A plugin of the running chain as management.ts sees it ({@link Runtime.chainMembers}). */
export interface ChainMember {
  readonly name: string;
  readonly version: string;
  readonly status: 'running' | 'error' | 'disabled';
  readonly entry: PluginEntry;
  readonly installed: InstalledPlugin;
  readonly errors: readonly PluginErrorRecord[];
}

/** One loaded plugin of the chain. */
class PluginInstance {
  status: 'running' | 'error' | 'disabled' = 'running';
  readonly errorCounts = new Map<string, number>();
  readonly logs: PluginLogLine[] = [];
  readonly errors: PluginErrorRecord[] = [];
  sandbox: PluginSandbox | undefined;
  config: Record<string, unknown> = {};
  inFlight = 0;
  exporting = false;
  runningJobs = false;
  readonly metricNames = new Set<string>();
  logWindow = 0;
  logsInWindow = 0;
  logsSuppressed = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly entry: PluginEntry,
    readonly installed: InstalledPlugin,
  ) {}

  get name() {
    return this.installed.name;
  }
  get version() {
    return this.installed.version;
  }
  get label() {
    return `${this.name} (${this.version})`;
  }
  has(hook: string): boolean {
    return this.status === 'running' && this.sandbox !== undefined && this.sandbox.hooks.has(hook);
  }
  enter() {
    this.inFlight += 1;
  }
  leave() {
    this.inFlight -= 1;
    if (this.inFlight === 0 && !this.exporting) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
  idle(): Promise<void> {
    if (this.inFlight === 0 && !this.exporting) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
  exportDone() {
    this.exporting = false;
    if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** What {@link Runtime.ingest} did with a batch of events. */
export interface IngestResult {
  stored: number;
  dropped: number;
  duplicates: number;
}

interface QueuedBatch {
  events: PluginEvent[];
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The Plugline runtime: loads the chain from a project directory (installing pinned plugins offline
 * from the cache), runs each plugin in its own isolate, pushes batches of events through the
 * `processEvent` chain, stores the results, then runs `onEvent` and the durable `exportEvents` buffers.
 *
 * @example
 * ```ts
 * const runtime = new Runtime({ dir: '.plugline/runtime' });
 * await runtime.start();
 * await runtime.ingest([{ uuid, event: '$pageview', distinct_id: 'u1', properties: {}, timestamp }]);
 * await runtime.close();
 * ```
 */
export class Runtime {
  readonly dir: string;
  readonly store: RuntimeStore;
  readonly metrics: RuntimeMetrics;
  readonly logger: Logger;
  private readonly options: RuntimeOptions;
  private readonly exportDefaults: ExportSettings;
  private readonly maxBatchEvents: number;
  private readonly maxConcurrentBatches: number;
  private instances: PluginInstance[] = [];
  private readonly caches = new Map<string, MemoryCache>();
  private readonly shared: SharedPluginState | undefined;
  /** Keeps runtimes that share one data directory from exporting a batch, running a job or a scheduled period twice. */
  private readonly leases: StoreLeases;
  private readonly queue: QueuedBatch[] = [];
  private pumping = false;
  private readonly background = new Set<Promise<unknown>>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  /** The tail of the chain-change queue ({@link exclusive}). */
  private managing: Promise<unknown> = Promise.resolve();

  constructor(options: RuntimeOptions) {
    this.options = options;
    this.dir = options.dir;
    this.logger = options.logger ?? pino({ name: 'plugline-runtime', level: 'silent' });
    this.store = new RuntimeStore(options.dataDir ?? projectPaths(options.dir).data);
    this.leases = new StoreLeases(options.dataDir ?? projectPaths(options.dir).data);
    this.shared = options.redisUrl ? createRedisPluginState({ url: options.redisUrl, ...(options.redisKeyPrefix ? { keyPrefix: options.redisKeyPrefix } : {}) }) : undefined;
    this.metrics = createRuntimeMetrics();
    this.exportDefaults = { ...defaultExportSettings, ...options.exports };
    this.maxBatchEvents = options.maxBatchEvents ?? 1000;
    this.maxConcurrentBatches = Math.max(1, options.maxConcurrentBatches ?? 2);
  }

  /** Installs (offline when pinned) and loads every enabled plugin, then starts the export and schedule timers. */
  async start(): Promise<void> {
    const plugins = await installProject(this.dir, this.options.registryUrl ? { registryUrl: this.options.registryUrl } : {});
    // Work claimed by a crashed runtime on this machine (e.g. our previous incarnation) is free again now.
    const released = this.leases.releaseDeadHolders();
    if (released > 0) this.logger.warn({ released }, 'released claims held by runtimes that exited');
    const instances: PluginInstance[] = [];
    for (const { entry, installed, failure } of plugins) instances.push(await this.loadInstance(entry, installed, failure));
    this.instances = instances;
    const tick = setInterval(() => this.exportTick(), this.options.exportTickMs ?? 200);
    tick.unref();
    this.timers.push(tick);
    if (this.options.schedule !== false) {
      for (const [hook, ms] of [
        ['runEveryMinute', 60_000],
        ['runEveryHour', 3_600_000],
        ['runEveryDay', 86_400_000],
      ] as const) {
        const timer = setInterval(() => {
          // Once per period across every runtime sharing this store (each has its own timer).
          this.leases.prune();
          if (this.leases.claim(`schedule:${hook}:${Math.floor(Date.now() / ms)}`, ms)) void this.runScheduled(hook);
        }, ms);
        timer.unref();
        this.timers.push(timer);
      }
    }
    this.logger.info(
      {
        plugins: instances.map((instance) => ({ name: instance.name, version: instance.version, status: instance.status })),
        pluginState: this.shared ? 'redis' : 'local',
      },
      'runtime started',
    );
  }

  private cacheFor(name: string): MemoryCache {
    let cache = this.caches.get(name);
    if (!cache) {
      cache = new MemoryCache();
      this.caches.set(name, cache);
    }
    return cache;
  }

  /** `meta.storage` of a plugin in this runtime's SQLite store. */
  private localStorage(plugin: string): PluginStorageBackend {
    return {
      get: (key) => this.store.storageGet(plugin, key),
      set: (key, value) => this.store.storageSet(plugin, key, value),
      del: (key) => this.store.storageDel(plugin, key),
      cursorInit: (key, initial) => this.store.cursorInit(plugin, key, initial),
      cursorIncrement: (key, by) => this.store.cursorIncrement(plugin, key, by),
    };
  }

  /** Creates, validates and starts one plugin (running `setupPlugin`); failures leave it in `error` status. */
  private async loadInstance(entry: PluginEntry, installed: InstalledPlugin, failure?: PluglineError): Promise<PluginInstance> {
    const instance = new PluginInstance(entry, installed);
    if (!entry.enabled) {
      instance.status = 'disabled';
      return instance;
    }
    let permissions: ReturnType<typeof pluginPermissions>;
    try {
      // Code that is not what was verified, or requests the operator has not granted: not started.
      if (failure ?? installed.unavailable) throw failure ?? installed.unavailable;
      const ungranted = ungrantedError(installed, entry.grants);
      if (ungranted) throw ungranted;
      permissions = pluginPermissions(installed.name, entry.grants, this.options.egress ?? (await readProject(this.dir)).egress);
      instance.config = checkConfig(installed, entry.config);
    } catch (error) {
      instance.status = 'error';
      this.recordError(instance, 'setupPlugin', error);
      return instance;
    }
    const settings = entry.settings ?? {};
    const sandbox = new PluginSandbox({
      name: installed.name,
      version: installed.version,
      integrity: installed.integrity,
      code: installed.code,
      // PostHog attachment fields reach the plugin as meta.attachments, not meta.config.
      ...splitAttachments(installed.manifest.config, instance.config, entry.attachments),
      // meta.postgres always exists; the host refuses it (ERR_CAPABILITY_DENIED) without the grant.
      capabilities: ['postgres'],
      memoryLimitMb: settings.memoryLimitMb ?? this.options.memoryLimitMb ?? 64,
      timeoutMs: settings.timeoutMs ?? this.options.timeoutMs ?? 1000,
      wallTimeoutMs: this.options.wallTimeoutMs ?? 30_000,
      perEventTimeoutMs: this.options.perEventTimeoutMs ?? 1,
      host: createSandboxHost({
        sink: {
          log: (level, message, fields) => this.pluginLog(instance, level, message, fields),
          metric: (kind, name, value) => {
            // Metric names become label values: cap them per plugin to bound /metrics cardinality.
            if (!instance.metricNames.has(name)) {
              if (instance.metricNames.size >= 100) return;
              instance.metricNames.add(name);
            }
            if (kind === 'increment') this.metrics.pluginMetric.inc({ plugin: instance.name, metric: name }, value);
            else this.metrics.pluginGauge.set({ plugin: instance.name, metric: name, kind }, value);
          },
        },
        storage: this.shared?.storageFor(instance.name) ?? this.localStorage(instance.name),
        enqueueJob: (name, payload, delayMs) => {
          this.store.enqueueJob(instance.name, name, payload, Date.now() + delayMs);
          if (delayMs === 0) queueMicrotask(() => this.exportTick());
        },
        cache: this.shared?.cacheFor(installed.name) ?? this.cacheFor(installed.name),
        capture: (event) => this.captureFromPlugin(instance, event),
        postgres: permissions.postgres,
        egress: permissions.egress,
        denied: (op, error) => void this.recordError(instance, op, error),
      }),
    });
    sandbox.onRestart = async () => {
      const failure = await sandbox.callHook('setupPlugin').catch((error: unknown) => ({ message: String((error as Error).message), errorName: 'Error' }));
      if (failure) this.recordError(instance, 'setupPlugin', failure);
    };
    try {
      await sandbox.start();
      // PostHog retried a failing setupPlugin (5 attempts) before disabling the plugin; so do we, for its plugins.
      const delays = installed.manifest.posthog ? (this.options.setupRetryDelaysMs ?? defaultSetupRetryDelaysMs) : [];
      const failure = await setupWithRetries(() => sandbox.callHook('setupPlugin'), delays, (failed, attempt, attempts) =>
        this.pluginLog(instance, 'warn', `setupPlugin failed (attempt ${attempt}/${attempts}), retrying: ${failed.message}`),
      );
      if (failure) throw new PluginError({ plugin: instance.name, version: instance.version, hook: 'setupPlugin', message: failure.message });
    } catch (error) {
      sandbox.dispose();
      instance.status = 'error';
      this.recordError(instance, 'setupPlugin', error);
      return instance;
    }
    instance.sandbox = sandbox;
    return instance;
  }

  /** `posthog.capture` inside a plugin: a new event into the capture path, not awaited (no deadlock with the running batch). */
  private captureFromPlugin(instance: PluginInstance, raw: Record<string, unknown>) {
    const properties = (raw.properties && typeof raw.properties === 'object' ? raw.properties : {}) as Record<string, unknown>;
    const event: PluginEvent = {
      uuid: randomUUID(),
      event: String(raw.event),
      distinct_id: typeof properties.distinct_id === 'string' ? properties.distinct_id : `plugin-${instance.name}`,
      properties: { ...properties, $plugline_plugin: instance.name },
      timestamp: new Date().toISOString(),
    };
    if (this.closed) return;
    this.track(this.ingest([event]));
  }

  private pluginLog(instance: PluginInstance, level: PluginLogLine['level'], message: string, fields?: Record<string, unknown>) {
    const line: PluginLogLine = { at: new Date().toISOString(), level, message, ...(fields ? { fields } : {}) };
    instance.logs.push(line);
    if (instance.logs.length > (this.options.recentLines ?? 100)) instance.logs.shift();
    // At most 100 lines per second per plugin reach the process log; the rest are counted.
    const second = Math.floor(Date.now() / 1000);
    if (instance.logWindow !== second) {
      if (instance.logsSuppressed > 0) this.logger.warn({ plugin: instance.name, suppressed: instance.logsSuppressed }, 'plugin log lines suppressed (rate limit)');
      instance.logWindow = second;
      instance.logsInWindow = 0;
      instance.logsSuppressed = 0;
    }
    if (++instance.logsInWindow > 100) {
      instance.logsSuppressed += 1;
      return;
    }
    this.logger[level]({ plugin: instance.name, version: instance.version, ...(fields ? { fields } : {}) }, message);
  }

  /** Records a plugin failure: counted by code, kept in the recent list, logged (never with config values). */
  private recordError(instance: PluginInstance, hook: HookName, error: unknown, eventUuid?: string): PluginErrorRecord {
    let code: ErrorCode = 'ERR_PLUGIN_THREW';
    let message: string;
    if (isPluglineError(error)) {
      code = (error as PluglineError).code;
      message = (error as PluglineError).message;
    } else if (error && typeof error === 'object' && 'message' in error) {
      message = `${instance.name}@${instance.version} ${hook}: ${String((error as { message: unknown }).message)}`;
    } else message = `${instance.name}@${instance.version} ${hook}: ${String(error)}`;
    const record: PluginErrorRecord = { at: new Date().toISOString(), code, hook, message, ...(eventUuid ? { eventUuid } : {}) };
    instance.errors.push(record);
    if (instance.errors.length > (this.options.recentLines ?? 100)) instance.errors.shift();
    instance.errorCounts.set(code, (instance.errorCounts.get(code) ?? 0) + 1);
    this.metrics.pluginErrors.inc({ plugin: instance.name, hook, code });
    if (code === 'ERR_PLUGIN_TIMEOUT' || code === 'ERR_PLUGIN_MEMORY') this.metrics.pluginRestarts.inc({ plugin: instance.name, code });
    this.logger.warn({ plugin: instance.name, version: instance.version, hook, code, ...(eventUuid ? { eventUuid } : {}) }, message);
    return record;
  }

  /**
   * Runs events through the chain, stores what survives and hands it to `onEvent` and the export
   * buffers. Concurrent calls are merged into batches (up to `maxBatchEvents`) so each sandbox is
   * crossed once per batch.
   */
  ingest(events: PluginEvent[]): Promise<IngestResult> {
    if (this.closed) return Promise.reject(new PluglineError('ERR_INTERNAL', 'the runtime is closed'));
    if (events.length === 0) return Promise.resolve({ stored: 0, dropped: 0, duplicates: 0 });
    this.metrics.eventsReceived.inc(events.length);
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      if (!this.pumping) void this.pump();
    });
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    // Up to `maxConcurrentBatches` batches are in the chain at once: each plugin's isolate runs on its
    // own thread, so batch n+1 can be in plugin 1 while batch n is in plugin 2 (a pipeline).
    const inFlight = new Set<Promise<void>>();
    try {
      while (this.queue.length > 0 || inFlight.size > 0) {
        if (this.queue.length > 0 && inFlight.size < this.maxConcurrentBatches) {
          const taken: QueuedBatch[] = [];
          let count = 0;
          while (this.queue.length > 0 && (taken.length === 0 || count + this.queue[0]!.events.length <= this.maxBatchEvents)) {
            const next = this.queue.shift()!;
            taken.push(next);
            count += next.events.length;
          }
          const running: Promise<void> = this.runQueued(taken).finally(() => inFlight.delete(running));
          inFlight.add(running);
          continue;
        }
        await Promise.race(inFlight);
      }
    } finally {
      this.pumping = false;
    }
  }

  private async runQueued(taken: QueuedBatch[]): Promise<void> {
    const all = taken.flatMap((item) => item.events);
    try {
      const results = await this.processBatch(all);
      let offset = 0;
      for (const item of taken) {
        const slice = results.slice(offset, offset + item.events.length);
        offset += item.events.length;
        item.resolve({
          stored: slice.filter((r) => r === 'stored').length,
          dropped: slice.filter((r) => r === 'dropped').length,
          duplicates: slice.filter((r) => r === 'duplicate').length,
        });
      }
    } catch (error) {
      for (const item of taken) item.reject(error);
    }
  }

  /** The chain over one batch (in slices of `maxBatchEvents`), then store, onEvent, export buffers. */
  private async processBatch(input: PluginEvent[]): Promise<('stored' | 'dropped' | 'duplicate')[]> {
    const outcome: ('stored' | 'dropped' | 'duplicate')[] = [];
    for (let start = 0; start < input.length; start += this.maxBatchEvents) {
      outcome.push(...(await this.processSlice(input.slice(start, start + this.maxBatchEvents))));
    }
    return outcome;
  }

  private async processSlice(input: PluginEvent[]): Promise<('stored' | 'dropped' | 'duplicate')[]> {
    const stopTimer = this.metrics.chainSeconds.startTimer();
    const chain = this.instances.filter((instance) => instance.has('processEvent'));
    for (const instance of chain) instance.enter();
    let chainResult: Awaited<ReturnType<typeof runSandboxedChain>>;
    try {
      chainResult = await runSandboxedChain(
        chain.map((instance) => ({ name: instance.name, version: instance.version, sandbox: instance.sandbox! })),
        input,
      );
    } finally {
      for (const instance of chain) instance.leave();
    }
    for (const failure of chainResult.failures) {
      const instance = chain.find((candidate) => candidate.sandbox === failure.step.sandbox)!;
      this.recordError(instance, 'processEvent', failure.error, failure.index === undefined ? undefined : input[failure.index]!.uuid);
    }
    const kept: PluginEvent[] = [];
    const keptIndex: number[] = [];
    chainResult.events.forEach((event, index) => {
      const by = chainResult.droppedBy[index];
      if (by !== undefined) this.metrics.eventsDropped.inc({ plugin: by.slice(0, by.lastIndexOf(' (')) });
      if (event === null) return;
      kept.push(event);
      keptIndex.push(index);
    });
    const exporters = this.instances.filter((instance) => instance.has('exportEvents')).map((instance) => ({ plugin: instance.name, ignore: ignoredEvents(instance.config) }));
    const stored = this.store.storeEvents(kept, exporters);
    stopTimer();
    this.metrics.eventsStored.inc(stored.length);
    this.metrics.eventsDuplicate.inc(kept.length - stored.length);
    const storedUuids = new Set(stored.map((event) => event.uuid));
    const result: ('stored' | 'dropped' | 'duplicate')[] = input.map(() => 'dropped');
    keptIndex.forEach((index, k) => {
      result[index] = storedUuids.has(kept[k]!.uuid) ? 'stored' : 'duplicate';
    });
    if (stored.length > 0) {
      this.runOnEvent(stored);
      this.exportTick();
    }
    return result;
  }

  private track<T>(promise: Promise<T>): void {
    const tracked = promise.catch(() => undefined).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  private runOnEvent(events: PluginEvent[]) {
    const json = JSON.stringify(events);
    for (const instance of this.instances) {
      if (!instance.has('onEvent')) continue;
      instance.enter();
      this.track(
        instance
          .sandbox!.onEventBatch(json, events.length)
          .then((failures) => {
            for (const failure of failures) {
              this.recordError(
                instance,
                'onEvent',
                new PluginError({ plugin: instance.name, version: instance.version, hook: 'onEvent', message: `${failure.errorName}: ${failure.message}` }),
                events[failure.index]?.uuid,
              );
            }
          })
          .catch((error: unknown) => void this.recordError(instance, 'onEvent', error))
          .finally(() => instance.leave()),
      );
    }
  }

  private exportSettings(instance: PluginInstance): ExportSettings {
    const s = instance.entry.settings ?? {};
    // PostHog plugins set their buffer through config keys (strings): honour them.
    const bytes = Number(instance.config.exportEventsBufferBytes);
    const seconds = Number(instance.config.exportEventsBufferSeconds);
    // PostHog's getSettings().handlesLargeBatches: the plugin prefers large batches (S3-like), so the
    // default count and byte caps are 10x; config keys and plugins.json settings still win.
    const large = instance.sandbox?.settings.handlesLargeBatches === true;
    return {
      ...this.exportDefaults,
      ...(large ? { maxEvents: this.exportDefaults.maxEvents * 10, maxBytes: this.exportDefaults.maxBytes * 10 } : {}),
      ...(bytes >= 1 && bytes <= 100 * 1024 * 1024 ? { maxBytes: bytes } : {}),
      ...(seconds >= 1 && seconds <= 600 ? { maxAgeMs: seconds * 1000 } : {}),
      ...(s.exportMaxEvents ? { maxEvents: s.exportMaxEvents } : {}),
      ...(s.exportMaxBytes ? { maxBytes: s.exportMaxBytes } : {}),
      ...(s.exportMaxAgeMs !== undefined ? { maxAgeMs: s.exportMaxAgeMs } : {}),
      ...(s.exportMaxAttempts ? { maxAttempts: s.exportMaxAttempts } : {}),
    };
  }

  /** Cuts due buffers into batches and starts due export attempts (one at a time per plugin). */
  private exportTick(force = false): void {
    if (this.closed) return;
    this.jobsTick();
    for (const instance of this.instances) {
      if (!instance.has('exportEvents') || instance.exporting) continue;
      instance.exporting = true;
      this.track(this.exportPlugin(instance, force).finally(() => instance.exportDone()));
    }
  }

  private jobsTick(): void {
    for (const instance of this.instances) {
      if (!instance.has('jobs') || instance.runningJobs) continue;
      if (this.store.dueJobs(instance.name, Date.now(), 1).length === 0) continue;
      instance.runningJobs = true;
      instance.enter();
      this.track(
        this.runJobs(instance).finally(() => {
          instance.runningJobs = false;
          instance.leave();
        }),
      );
    }
  }

  /** Runs a plugin's due jobs; a `RetryError` retries (3 attempts, backoff), other errors are recorded and the job dropped. */
  private async runJobs(instance: PluginInstance): Promise<void> {
    for (const job of this.store.dueJobs(instance.name)) {
      if (this.closed) return;
      // Another runtime sharing the store may run it: claim it, then check that it is still due as read.
      await this.withLease(`job:${job.id}`, async () => {
        if (!this.store.dueJobs(instance.name).some((due) => due.id === job.id && due.attempts === job.attempts)) return;
        await this.runJob(instance, job);
      });
    }
  }

  private async runJob(instance: PluginInstance, job: ReturnType<RuntimeStore['dueJobs']>[number]): Promise<void> {
    let failure: { message: string; errorName: string } | null;
    try {
      failure = await instance.sandbox!.callHook(`jobs.${job.name}`, [job.payload]);
    } catch (error) {
      failure = { message: (error as Error).message, errorName: 'Error' };
    }
    if (!failure) {
      this.store.jobDone(job.id);
      return;
    }
    this.recordError(instance, `jobs.${job.name}`, new PluginError({ plugin: instance.name, version: instance.version, hook: `jobs.${job.name}`, message: `${failure.errorName}: ${failure.message}` }));
    const attempts = job.attempts + 1;
    if (failure.errorName === 'RetryError' && attempts < 3) this.store.jobRetryLater(job.id, attempts, Date.now() + this.exportDefaults.backoffBaseMs * 2 ** attempts);
    else this.store.jobDone(job.id);
  }

  private async exportPlugin(instance: PluginInstance, force: boolean): Promise<void> {
    const settings = this.exportSettings(instance);
    for (;;) {
      // A plugin replaced by a hot reload or a management change stops here; its successor takes over.
      if (this.closed || !this.instances.includes(instance)) return;
      const stats = this.store.bufferStats(instance.name);
      const due =
        stats.count > 0 &&
        (force || stats.count >= settings.maxEvents || stats.bytes >= settings.maxBytes || (stats.oldest !== null && Date.now() - stats.oldest >= settings.maxAgeMs));
      if (due) this.store.cutBatch(instance.name, settings.maxEvents, settings.maxBytes);
      const batch = this.store.dueBatch(instance.name);
      if (!batch) return;
      // Runtimes sharing one store: whoever claims the batch exports it; the others try again next tick.
      const claimed = await this.withLease(`export:${batch.id}`, async () => {
        const current = this.store.dueBatch(instance.name);
        // Exported (deleted) or rescheduled by another runtime between our read and our claim.
        if (!current || current.id !== batch.id || current.attempts !== batch.attempts) return;
        await this.attemptExport(instance, current, settings);
      });
      if (!claimed) return;
    }
  }

  /**
   * Runs `work` while holding the lease `key` (false, without running it, when another runtime holds it).
   * The lease is short and renewed by a heartbeat while the work runs, so if this process dies the lease
   * lapses within `leaseMs` and another runtime (or this one restarted) takes the work over.
   */
  private async withLease(key: string, work: () => Promise<void>): Promise<boolean> {
    const ms = this.options.leaseMs ?? 5000;
    if (!this.leases.claim(key, ms)) return false;
    const heartbeat = setInterval(() => {
      try {
        if (!this.leases.renew(key, ms)) this.logger.warn({ lease: key }, 'lost a claim while its work was running (another runtime may repeat it)');
      } catch (error) {
        // A busy store must not crash the process from a timer; the next beat tries again.
        this.logger.warn({ lease: key, err: error }, 'could not renew a claim');
      }
    }, Math.max(1, Math.floor(ms / 3)));
    heartbeat.unref();
    try {
      await work();
    } finally {
      clearInterval(heartbeat);
      this.leases.release(key);
    }
    return true;
  }

  private async attemptExport(instance: PluginInstance, batch: NonNullable<ReturnType<RuntimeStore['dueBatch']>>, settings: ExportSettings) {
    const attempts = batch.attempts + 1;
    let failure: { message: string; retry: boolean; code: ErrorCode } | undefined;
    try {
      const result = await instance.sandbox!.callHook('exportEvents', [batch.events]);
      if (result) failure = { message: `${result.errorName}: ${result.message}`, retry: result.errorName === 'RetryError', code: 'ERR_PLUGIN_THREW' };
    } catch (error) {
      // A timeout or memory failure may be transient (e.g. a slow receiver): retry it.
      failure = { message: (error as Error).message, retry: true, code: isPluglineError(error) ? (error as PluglineError).code : 'ERR_PLUGIN_THREW' };
    }
    if (!failure) {
      this.store.batchSucceeded(batch.id);
      this.metrics.exportBatches.inc({ plugin: instance.name, outcome: 'success' });
      return;
    }
    this.recordError(instance, 'exportEvents', new PluginError({ plugin: instance.name, version: instance.version, hook: 'exportEvents', message: `attempt ${attempts}: ${failure.message}` }));
    if (failure.retry && attempts < settings.maxAttempts) {
      const delay = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** (attempts - 1));
      const jittered = Math.round(delay / 2 + Math.random() * (delay / 2));
      this.store.batchRetryLater(batch.id, attempts, Date.now() + jittered, failure.message);
      this.metrics.exportBatches.inc({ plugin: instance.name, outcome: 'retry' });
      return;
    }
    const code: ErrorCode = failure.retry ? 'ERR_EXPORT_RETRY_EXHAUSTED' : 'ERR_EXPORT_FAILED';
    const id = this.store.batchToDeadLetter(batch.id, { version: instance.version, hook: 'exportEvents', reason: failure.message, code, attempts });
    this.metrics.exportBatches.inc({ plugin: instance.name, outcome: 'dead_letter' });
    this.metrics.deadLetters.inc({ plugin: instance.name });
    this.logger.error({ plugin: instance.name, version: instance.version, deadLetter: id, attempts, code }, `export batch ${batch.id} sent to the dead-letter store`);
  }

  /**
   * Flushes every export buffer now (ignoring count/bytes/age) and waits until no due batch is left;
   * batches waiting for a retry stay scheduled.
   */
  async flushExports(): Promise<void> {
    for (const instance of this.instances) if (instance.has('exportEvents')) await instance.idle();
    this.exportTick(true);
    await this.settle();
  }

  /** Waits for background work (onEvent, running exports) to finish. */
  async settle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Replays a dead letter: it becomes a fresh export batch. `ERR_NOT_FOUND` when there is no such dead letter. */
  replayDeadLetter(id: number): { id: number; batchId: number; plugin: string } {
    const replayed = this.store.replayDeadLetter(id);
    if (!replayed) throw new PluglineError('ERR_NOT_FOUND', `no dead letter ${id}`);
    this.exportTick();
    return { id, ...replayed };
  }

  /** Runs a scheduled hook on every plugin that has it. */
  async runScheduled(hook: 'runEveryMinute' | 'runEveryHour' | 'runEveryDay'): Promise<void> {
    await Promise.all(
      this.instances
        .filter((instance) => instance.has(hook))
        .map(async (instance) => {
          instance.enter();
          try {
            const failure = await instance.sandbox!.callHook(hook);
            if (failure) this.recordError(instance, hook, new PluginError({ plugin: instance.name, version: instance.version, hook, message: `${failure.errorName}: ${failure.message}` }));
          } catch (error) {
            this.recordError(instance, hook, error);
          } finally {
            instance.leave();
          }
        }),
    );
  }

  /**
   * Validates and saves a plugin's new config, then hot-reloads it: a new sandbox is set up with the
   * new config and swapped into the chain; batches already in flight finish on the old one, which is
   * then torn down. Throws `ERR_CONFIG_INVALID` (nothing changes) or `ERR_PLUGIN_NOT_INSTALLED`.
   */
  setPluginConfig(name: string, config: Record<string, unknown>): Promise<{ name: string; version: string; config: Record<string, unknown> }> {
    return this.exclusive(() => this.applyPluginConfig(name, config));
  }

  private async applyPluginConfig(name: string, config: Record<string, unknown>): Promise<{ name: string; version: string; config: Record<string, unknown> }> {
    const current = this.instances.find((instance) => instance.name === name);
    if (!current) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed`);
    const redacted = await setPluginConfig(this.dir, name, config);
    const entry = (await readProject(this.dir)).plugins.find((candidate) => candidate.name === name)!;
    const next = await this.loadInstance(entry, current.installed);
    if (next.status === 'error') current.errors.push(...next.errors);
    this.instances = this.instances.map((instance) => (instance === current ? next : instance));
    this.track(this.retire(current));
    this.logger.info({ plugin: name, config: redacted }, 'plugin config changed');
    return { name, version: current.version, config: redacted };
  }

  /**
   * Replaces a plugin's granted capabilities (saved to plugins.json) and reloads it with them, as a
   * config change does: a plugin left in `error` for want of a grant starts once it is granted.
   */
  setPluginGrants(name: string, grants: readonly string[]): Promise<{ name: string; version: string; granted: string[]; status: string }> {
    return this.exclusive(() => this.applyPluginGrants(name, grants));
  }

  private async applyPluginGrants(name: string, grants: readonly string[]): Promise<{ name: string; version: string; granted: string[]; status: string }> {
    const current = this.instances.find((instance) => instance.name === name);
    if (!current) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed`);
    const granted = await setPluginGrants(this.dir, name, grants);
    const entry = (await readProject(this.dir)).plugins.find((candidate) => candidate.name === name)!;
    const next = await this.loadInstance(entry, current.installed);
    this.instances = this.instances.map((instance) => (instance === current ? next : instance));
    this.track(this.retire(current));
    this.logger.info({ plugin: name, granted }, 'plugin grants changed');
    return { name, version: current.version, granted, status: next.status };
  }

  /**
   * Runs chain changes one at a time (management.ts, config and grants changes): each waits for the one
   * before it, so two requests never read and write the chain or plugins.json at once.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.managing.then(() => {
      if (this.closed) throw new PluglineError('ERR_INTERNAL', 'the runtime is closed');
      return work();
    });
    this.managing = run.catch(() => undefined);
    return run;
  }

  /** The registry given to the constructor (management.ts falls back to `registry` in plugins.json). */
  get registryUrl(): string | undefined {
    return this.options.registryUrl;
  }

  /** The chain as it runs, in order, disabled plugins included (for management.ts). */
  chainMembers(): readonly ChainMember[] {
    return this.instances;
  }

  /** Sets a plugin up (sandbox, `setupPlugin`) without putting it in the chain: see {@link swapChain}. */
  prepareMember(entry: PluginEntry, installed: InstalledPlugin): Promise<ChainMember> {
    return this.loadInstance(entry, installed);
  }

  /**
   * Makes `next` (members of {@link chainMembers} and prepared ones) the chain: batches that start from
   * now on use it; batches in flight finish on the chain they started with. Each of `retired` is torn
   * down once its in-flight work is idle.
   */
  swapChain(next: readonly ChainMember[], retired: readonly ChainMember[] = []): void {
    const instances = next.map((member) => {
      if (!(member instanceof PluginInstance)) throw new PluglineError('ERR_INTERNAL', 'not a plugin of this runtime');
      return member;
    });
    this.instances = instances;
    for (const member of retired) if (member instanceof PluginInstance && !instances.includes(member)) this.track(this.retire(member));
    this.exportTick();
  }

  private async retire(instance: PluginInstance): Promise<void> {
    await instance.idle();
    if (instance.sandbox) {
      await instance.sandbox.callHook('teardownPlugin').catch(() => null);
      instance.sandbox.dispose();
    }
  }

  /** Stored events (see {@link EventQuery}). */
  queryEvents(query: EventQuery = {}): PluginEvent[] {
    return this.store.queryEvents(query);
  }

  /** Per-plugin status for `GET /api/plugins`: configs redacted, recent logs and errors. */
  describePlugins() {
    return this.instances.map((instance) => ({
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
      errors: { total: [...instance.errorCounts.values()].reduce((a, b) => a + b, 0), byCode: Object.fromEntries(instance.errorCounts) },
      recentErrors: instance.errors.slice(-20),
      recentLogs: instance.logs.slice(-50),
      exportBuffer: instance.sandbox?.hooks.has('exportEvents') ? this.store.bufferStats(instance.name) : undefined,
      pendingExportBatches: instance.sandbox?.hooks.has('exportEvents') ? this.store.pendingBatches(instance.name) : undefined,
    }));
  }

  /** Stops timers, waits for in-flight work, tears plugins down and closes the store. Buffers stay on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const timer of this.timers) clearInterval(timer);
    await this.managing;
    while (this.pumping || this.queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    this.closed = true;
    await this.settle();
    for (const instance of this.instances) {
      if (!instance.sandbox) continue;
      await instance.sandbox.callHook('teardownPlugin').catch(() => null);
      instance.sandbox.dispose();
    }
    await closePostgresPools();
    await this.shared?.close();
    this.leases.close();
    this.store.close();
  }
}

/** PostHog's `exportEventsToIgnore` config key: comma-separated event names never exported. */
function ignoredEvents(config: Record<string, unknown>): ReadonlySet<string> | undefined {
  const value = config.exportEventsToIgnore;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  return new Set(value.split(',').map((name) => name.trim()).filter(Boolean));
}
