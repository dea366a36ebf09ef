import {
  type ErrorCode,
  type HookName,
  type JsonValue,
  type PluginEvent,
  PluginError,
  PluglineError,
  isPluglineError,
} from '@plugline/sdk';
import { randomUUID } from 'node:crypto';
import { type Logger, pino } from 'pino';
import { ungrantedError } from './capabilities.js';
import type { CaptureContext } from './capture.js';
import { type DryRunInput, type DryRunResult, dryRunChain, dryRunInputEvent } from './dry-run.js';
import { runSandboxedChain } from './chain.js';
import { onHostError } from './host-errors.js';
import { attemptOnEvent, onEventRetryHandler } from './on-event-retry.js';
import type { RetryOutcome } from './durable-retry.js';
import { type ExportSettings, RuntimeExports, defaultExportSettings, ignoredEvents } from './exports.js';
import type { InstalledPlugin } from './install.js';
import { type IngestLimits, IngestGate, defaultIngestLimits, measureEvent, screenEvents, unavailable } from './limits.js';
import { type LimitMetrics, createLimitMetrics } from './limits-metrics.js';
import { type RuntimeMetrics, createRuntimeMetrics } from './metrics.js';
import { type PluginErrorRecord, PluginInstance, type PluginLogLine } from './plugin-instance.js';
import { type PluginDescription, type PluginLogQuery, describePlugin, selectLogs } from './plugin-description.js';
import { type PluginEntry, checkConfig, installProject, projectPaths, readProject, setPluginConfig, setPluginGrants } from './project.js';
import { defaultSetupRetryDelaysMs, setupWithRetries, splitAttachments } from './posthog.js';
import { type EgressMode, pluginPermissions } from './sandbox/egress.js';
import { type PluginQuotas, QuotaCounter, applyQuotas, resolveQuotas } from './quota.js';
import { QuotaStore } from './quota-store.js';
import { MemoryCache, type PluginStorageBackend, closePostgresPools, createSandboxHost } from './sandbox/host.js';
import { attemptWebhook, deliverComposedWebhooks, type WebhookRequest, type WebhookRetry } from './webhooks.js';
import { PluginSandbox } from './sandbox/sandbox.js';
import { type SharedPluginState, createRedisPluginState } from './state.js';
import { StoreLeases } from './state-leases.js';
import { type DeadLetterFilter, type DeliveryProgress, type EventQuery, RuntimeStore } from './store.js';
import { scrubText, scrubValue } from './redact.js';

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
  /** Default wall-clock cap per crossing including awaited fetch/storage, ms (default 5000). */
  wallTimeoutMs?: number;
  /** Bounds on events, requests and the ingest queue (see `limits.ts` and the README's "Limits"). */
  limits?: Partial<IngestLimits>;
  /** Default quotas of every plugin (each plugin may override them in `settings.quotas`). */
  quotas?: Partial<PluginQuotas>;
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
  /** How the host retries a webhook composed by a PostHog plugin's `composeWebhook` (see webhooks.ts). */
  webhookRetry?: WebhookRetry;
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

export type { ExportSettings } from './exports.js';
export type { PluginErrorRecord, PluginLogLine } from './plugin-instance.js';

/** A plugin of the running chain as management.ts sees it ({@link Runtime.chainMembers}). */
export interface ChainMember {
  readonly name: string;
  readonly version: string;
  readonly status: 'running' | 'error' | 'disabled';
  readonly entry: PluginEntry;
  readonly installed: InstalledPlugin;
  readonly errors: readonly PluginErrorRecord[];
}


/** What {@link Runtime.ingest} did with a batch of events. */
export interface IngestResult {
  stored: number;
  dropped: number;
  duplicates: number;
  /** Events refused alone before the chain (too large, too deep, not serialisable), with their reason. */
  refused?: { index: number; uuid: string; reason: string }[];
}

interface QueuedBatch {
  events: PluginEvent[];
  /** Characters of JSON of the events (held against the ingest queue's bounds until they are stored). */
  bytes: number;
  /** Capture depth: 0 for clients' events, d + 1 for an event a plugin captured at depth d. */
  depth: number;
  /** Each event's JSON, as measured at ingest (the chain's first crossing reuses it). */
  lines: string[];
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
  /** Export buffers, batches in retry, dead letters and jobs (durable, in the store). */
  private readonly exports: RuntimeExports;
  private readonly maxBatchEvents: number;
  private readonly maxConcurrentBatches: number;
  private instances: PluginInstance[] = [];
  private readonly caches = new Map<string, MemoryCache>();
  private readonly shared: SharedPluginState | undefined;
  /** Keeps runtimes that share one data directory from exporting a batch, running a job or a scheduled period twice. */
  private readonly leases: StoreLeases;
  private readonly queue: QueuedBatch[] = [];
  /** Bounds of events and requests; the ingest queue's occupancy. */
  readonly limits: IngestLimits;
  readonly gate: IngestGate;
  readonly limitMetrics: LimitMetrics;
  /** False until {@link start} has loaded the chain: the HTTP server answers capture with 503 meanwhile. */
  ready = false;
  private startedResolve: () => void = () => {};
  /** Resolves once the chain is loaded: the pump waits for it, so no event skips a plugin still in setup. */
  private readonly started = new Promise<void>((resolve) => {
    this.startedResolve = resolve;
  });
  private quotaStore: QuotaStore | undefined;
  private pumping = false;
  private readonly background = new Set<Promise<unknown>>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly stopHostErrors: () => void;
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
    this.exports = new RuntimeExports(
      {
        instances: () => this.instances,
        closed: () => this.closed,
        track: (work) => this.track(work),
        recordError: (instance, hook, error, eventUuid) => this.recordError(instance, hook, error, eventUuid),
      },
      this.store,
      this.leases,
      this.metrics,
      this.logger,
      { ...defaultExportSettings, ...options.exports },
      options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs },
    );
    this.exports.retries.register('onEvent', onEventRetryHandler((instance, hook, error, eventUuid) => this.recordError(instance, hook, error, eventUuid), (uuids) => this.store.storedEvents(uuids)));
    // A composeWebhook request whose immediate retries failed: sent again with the export batches' policy.
    // A first composeWebhook attempt whose runtime died before it settled: the events, read back from the store.
    this.exports.retries.register('composeWebhookEvents', async (instance, payload) => {
      if (!instance.has('composeWebhook')) return { failed: `${instance.name} has no composeWebhook hook (any more)` };
      const events = this.store.storedEvents(((payload as { stored?: string[] }).stored ?? []) as string[]);
      if (events.length > 0) await this.composeAndSend(instance, events);
      return { ok: true };
    });
    this.exports.retries.register('composeWebhook', async (instance, payload) => {
      const outcome = await attemptWebhook(instance.sandbox!, payload as unknown as WebhookRequest);
      return 'ok' in outcome ? { ok: true } : 'retry' in outcome ? { retry: outcome.retry } : { failed: outcome.failed };
    });
    this.metrics.setDeliveryProgressSource(() => this.exports.progress());
    this.metrics.setPluginStatsSource(() => this.instances.filter((instance) => instance.has('processEvent')).map((instance) => ({ plugin: instance.name, stats: instance.stats })));
    this.stopHostErrors = onHostError((resource, error) => {
      this.metrics.hostErrors.inc({ resource });
      this.logger.warn({ resource, err: error }, `${resource} error survived (the resource reconnects on next use)`);
    });
    this.maxBatchEvents = options.maxBatchEvents ?? 1000;
    this.maxConcurrentBatches = Math.max(1, options.maxConcurrentBatches ?? 2);
    this.limits = { ...defaultIngestLimits, ...options.limits };
    this.gate = new IngestGate(this.limits);
    this.limitMetrics = createLimitMetrics(this.metrics.registry);
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
    this.ready = true;
    this.startedResolve();
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
          try {
            this.leases.prune();
            if (this.leases.claim(`schedule:${hook}:${Math.floor(Date.now() / ms)}`, ms)) void this.runScheduled(hook);
          } catch (error) {
            // A busy store must not crash the process from a timer.
            this.metrics.hostErrors.inc({ resource: 'sqlite' });
            this.logger.error({ err: error, hook }, 'could not claim a scheduled period');
          }
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
    const quotas = resolveQuotas(this.options.quotas, settings.quotas);
    const counter = new QuotaCounter((quota, message) => {
      this.limitMetrics.quotaExceeded.inc({ plugin: installed.name, quota });
      this.logger.debug({ plugin: installed.name, quota }, message);
    });
    instance.quotaCounter = counter;
    instance.quotas = quotas;
    instance.logLinesPerSecond = quotas.logLinesPerSecond;
    const quotaStore = () => {
      this.quotaStore ??= new QuotaStore(this.options.dataDir ?? projectPaths(this.options.dir).data);
      return this.quotaStore;
    };
    const sandbox: PluginSandbox = new PluginSandbox({
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
      wallTimeoutMs: settings.wallTimeoutMs ?? this.options.wallTimeoutMs ?? 5000,
      perEventTimeoutMs: this.options.perEventTimeoutMs ?? 1,
      // WebAssembly only with the operator's `wasm` grant, its memories bounded in total.
      allowWasm: permissions.wasm,
      maxHostCallsInFlight: quotas.hostCallsInFlight,
      ...(settings.wasmMemoryMb ? { wasmMemoryMb: settings.wasmMemoryMb } : {}),
      host: createSandboxHost(applyQuotas({
        sink: {
          log: (level, message, fields) => this.pluginLog(instance, level, message, fields),
          metric: (kind, name, value) => {
            // Metric names become label values: capped per plugin by the metricNames quota.
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
        capture: (event) => this.captureFromPlugin(instance, event, sandbox.activeDepth, quotas.captureDepth),
        postgres: permissions.postgres,
        egress: permissions.egress,
        denied: (op, error) => void this.recordError(instance, op, error),
      }, {
        quotas,
        counter,
        storedBytes: () => (this.shared ? 0 : quotaStore().storedBytes(installed.name)),
        pendingJobs: () => quotaStore().pendingJobs(installed.name),
      })),
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
  /**
   * `posthog.capture` inside a plugin: a new event into the capture path, not awaited (no deadlock
   * with the running batch). Its origin is marked (`$plugline_plugin`, `$plugline_depth`); a capture
   * past `maxDepth` (an event captured while processing events that plugins captured, and so on) or
   * into a full queue throws in the plugin (`ERR_QUOTA_EXCEEDED`, `ERR_UNAVAILABLE`). The rate is the
   * plugin's `capturesPerSecond` quota.
   */
  private captureFromPlugin(instance: PluginInstance, raw: Record<string, unknown>, activeDepth: number, maxDepth: number) {
    // Hooks outside a batch (setup, jobs, schedules) capture at depth 1.
    const depth = Math.max(0, activeDepth) + 1;
    if (depth > maxDepth) {
      throw instance.quotaCounter!.exceeded('captureDepth', `posthog.capture: an event captured while processing events ${activeDepth} captures deep (the limit is ${maxDepth})`);
    }
    const properties = (raw.properties && typeof raw.properties === 'object' ? raw.properties : {}) as Record<string, unknown>;
    const event: PluginEvent = {
      uuid: randomUUID(),
      event: String(raw.event),
      distinct_id: typeof properties.distinct_id === 'string' ? properties.distinct_id : `plugin-${instance.name}`,
      properties: { ...properties, $plugline_plugin: instance.name, $plugline_depth: depth },
      timestamp: new Date().toISOString(),
    };
    if (this.closed) return;
    const refused = measureEvent(event, this.limits);
    if ('reason' in refused) throw new PluglineError('ERR_PAYLOAD_INVALID', `posthog.capture: ${refused.reason}`);
    this.gate.admit(1, refused.bytes);
    this.metrics.eventsReceived.inc();
    this.track(this.enqueue([event], [refused.json], refused.bytes, depth));
  }

  private pluginLog(instance: PluginInstance, level: PluginLogLine['level'], rawMessage: string, rawFields?: Record<string, unknown>) {
    // A plugin's own secrets never reach its logs (API, process log) in clear.
    const message = scrubText(instance, rawMessage);
    const fields = rawFields && scrubValue(instance, rawFields);
    const line: PluginLogLine = { at: new Date().toISOString(), level, message, ...(fields ? { fields } : {}) };
    instance.logs.push(line);
    if (instance.logs.length > (this.options.recentLines ?? 100)) instance.logs.shift();
    // At most logLinesPerSecond (100) lines per second per plugin reach the process log; the rest are counted.
    const second = Math.floor(Date.now() / 1000);
    if (instance.logWindow !== second) {
      if (instance.logsSuppressed > 0) this.logger.warn({ plugin: instance.name, suppressed: instance.logsSuppressed }, 'plugin log lines suppressed (rate limit)');
      instance.logWindow = second;
      instance.logsInWindow = 0;
      instance.logsSuppressed = 0;
    }
    if (++instance.logsInWindow > instance.logLinesPerSecond) {
      instance.logsSuppressed += 1;
      instance.quotaCounter?.note('logLinesPerSecond', `more than ${instance.logLinesPerSecond} log lines in a second`);
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
    message = scrubText(instance, message);
    const record: PluginErrorRecord = { at: new Date().toISOString(), code, hook, message, ...(eventUuid ? { eventUuid } : {}) };
    instance.errors.push(record);
    if (instance.errors.length > (this.options.recentLines ?? 100)) instance.errors.shift();
    instance.errorCounts.set(code, (instance.errorCounts.get(code) ?? 0) + 1);
    this.metrics.pluginErrors.inc({ plugin: instance.name, hook, code });
    // (An async event past its own bound times out alone: no restart.)
    if ((code === 'ERR_PLUGIN_TIMEOUT' || code === 'ERR_PLUGIN_MEMORY') && (error as { eventTimeout?: boolean }).eventTimeout !== true) this.metrics.pluginRestarts.inc({ plugin: instance.name, code });
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
    // Each event is measured alone: one that cannot be processed is refused with its reason and
    // never reaches a batch, where it could fail the events of other requests merged with it.
    const { accepted, lines, bytes, refused } = screenEvents(events, this.limits, (code) => this.limitMetrics.eventsRefused.inc({ reason: code }));
    try {
      if (accepted.length > 0) this.gate.admit(accepted.length, bytes);
    } catch (error) {
      this.limitMetrics.captureUnavailable.inc({ reason: 'queue_full' });
      return Promise.reject(error);
    }
    this.metrics.eventsReceived.inc(accepted.length);
    const result = accepted.length > 0 ? this.enqueue(accepted, lines, bytes, 0) : Promise.resolve({ stored: 0, dropped: 0, duplicates: 0 });
    return refused.length > 0 ? result.then((counts) => ({ ...counts, refused })) : result;
  }

  /** Queues events already admitted by the gate. */
  private enqueue(events: PluginEvent[], lines: string[], bytes: number, depth: number): Promise<IngestResult> {
    this.limitMetrics.queueEvents.set(this.gate.events);
    this.limitMetrics.queueBytes.set(this.gate.bytes);
    return new Promise((resolve, reject) => {
      this.queue.push({ events, lines, bytes, depth, resolve, reject });
      if (!this.pumping) void this.pump();
    });
  }

  /** The 503 a capture request gets while the chain is loading (see {@link ready}). */
  startingError(): PluglineError {
    this.limitMetrics.captureUnavailable.inc({ reason: 'starting' });
    return unavailable('the runtime is starting (plugins are being set up): retry later', this.limits.retryAfterSeconds);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    // Nothing runs through the chain before it is loaded (events captured meanwhile wait here).
    await this.started;
    // Up to `maxConcurrentBatches` batches are in the chain at once: each plugin's isolate runs on its
    // own thread, so batch n+1 can be in plugin 1 while batch n is in plugin 2 (a pipeline).
    const inFlight = new Set<Promise<void>>();
    try {
      while (this.queue.length > 0 || inFlight.size > 0) {
        if (this.queue.length > 0 && inFlight.size < this.maxConcurrentBatches) {
          const taken: QueuedBatch[] = [];
          let count = 0;
          // Only events of one capture depth share a batch (the depth plugins' captures derive theirs from).
          while (this.queue.length > 0 && (taken.length === 0 || (count + this.queue[0]!.events.length <= this.maxBatchEvents && this.queue[0]!.depth === taken[0]!.depth))) {
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
    const lines = taken.length === 1 ? taken[0]!.lines : taken.flatMap((item) => item.lines);
    try {
      const results = await this.processBatch(all, taken[0]!.depth, lines).finally(() => {
        for (const item of taken) this.gate.release(item.events.length, item.bytes);
        this.limitMetrics.queueEvents.set(this.gate.events);
        this.limitMetrics.queueBytes.set(this.gate.bytes);
      });
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
  private async processBatch(input: PluginEvent[], depth = 0, lines?: string[]): Promise<('stored' | 'dropped' | 'duplicate')[]> {
    const outcome: ('stored' | 'dropped' | 'duplicate')[] = [];
    for (let start = 0; start < input.length; start += this.maxBatchEvents) {
      outcome.push(...(await this.processSlice(input.slice(start, start + this.maxBatchEvents), depth, lines?.slice(start, start + this.maxBatchEvents))));
    }
    return outcome;
  }

  private async processSlice(input: PluginEvent[], depth: number, lines?: string[]): Promise<('stored' | 'dropped' | 'duplicate')[]> {
    const stopTimer = this.metrics.chainSeconds.startTimer();
    const chain = this.instances.filter((instance) => instance.has('processEvent'));
    for (const instance of chain) instance.enter();
    let chainResult: Awaited<ReturnType<typeof runSandboxedChain>>;
    try {
      chainResult = await runSandboxedChain(
        chain.map((instance) => ({ name: instance.name, version: instance.version, sandbox: instance.sandbox!, stats: instance.stats })),
        input,
        { depth, ...(lines && lines.length === input.length ? { lines } : {}) },
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
    // Each onEvent and composeWebhook delivery is a retry row written with the events (first attempt
    // pending): a crash before it settles leaves it to be retried (durable-retry.ts runFirst).
    const dueAt = Date.now() + (this.options.wallTimeoutMs ?? 5000);
    const firstRuns = this.instances.flatMap((instance) =>
      (['onEvent', 'composeWebhook'] as const).filter((hook) => instance.has(hook)).map((hook) => ({ plugin: instance.name, kind: hook === 'onEvent' ? 'onEvent' : 'composeWebhookEvents', dueAt })),
    );
    const { stored, runs } = this.store.storeEvents(kept, exporters, firstRuns);
    stopTimer();
    this.metrics.eventsStored.inc(stored.length);
    this.metrics.eventsDuplicate.inc(kept.length - stored.length);
    const storedUuids = new Set(stored.map((event) => event.uuid));
    const result: ('stored' | 'dropped' | 'duplicate')[] = input.map(() => 'dropped');
    keptIndex.forEach((index, k) => {
      result[index] = storedUuids.has(kept[k]!.uuid) ? 'stored' : 'duplicate';
    });
    if (stored.length > 0) {
      this.runOnEvent(stored, depth, runs);
      this.exportTick();
    }
    return result;
  }

  private track<T>(promise: Promise<T>): void {
    const tracked = promise.catch(() => undefined).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  private runOnEvent(events: PluginEvent[], depth: number, runs: ReadonlyMap<string, number>) {
    const firstFailedAt = Date.now();
    let json: string | undefined;
    for (const instance of this.instances) {
      const composeId = runs.get(`${instance.name}\0composeWebhookEvents`);
      if (instance.has('composeWebhook') && composeId !== undefined) this.runComposeWebhook(instance, events, composeId, firstFailedAt);
      const id = runs.get(`${instance.name}\0onEvent`);
      if (!instance.has('onEvent') || id === undefined) continue;
      instance.enter();
      // A RetryError is retried durably (same policy as export batches); other failures are recorded.
      json ??= JSON.stringify(events);
      const first = () => attemptOnEvent(instance, events, (...args) => this.recordError(...args), { depth, json });
      this.track(
        this.exports.retries
          .runFirst(instance, { id, kind: 'onEvent', firstFailedAt }, first)
          .catch((error: unknown) => void this.recordError(instance, 'onEvent', error))
          .finally(() => instance.leave()),
      );
    }
  }

  /**
   * PostHog's composeWebhook: composed in the isolate, sent by the host (webhooks.ts). Its first
   * attempt is durable like onEvent's (a `composeWebhookEvents` retry row written with the events:
   * {@link runOnEvent}); failures are recorded as errors, a retryable request (network, 5xx, 429)
   * becomes a durable retry of its own (kind `composeWebhook`), and a refused one (other 4xx) a dead letter.
   */
  private runComposeWebhook(instance: PluginInstance, events: PluginEvent[], id: number, firstFailedAt: number) {
    instance.enter();
    const first = async (): Promise<RetryOutcome> => {
      await this.composeAndSend(instance, events);
      return { ok: true };
    };
    this.track(
      this.exports.retries
        .runFirst(instance, { id, kind: 'composeWebhookEvents', firstFailedAt }, first)
        .catch((error: unknown) => void this.recordError(instance, 'composeWebhook', error))
        .finally(() => instance.leave()),
    );
  }

  /** Composes and sends a plugin's webhooks for `events`; what is not delivered goes to the durable retries or the dead letters. */
  private async composeAndSend(instance: PluginInstance, events: readonly PluginEvent[]): Promise<void> {
    let outcomes: Awaited<ReturnType<typeof deliverComposedWebhooks>>;
    try {
      outcomes = await deliverComposedWebhooks(instance.sandbox!, events, this.options.webhookRetry);
    } catch (error) {
      // The composing crossing failed as a whole (timeout, memory): recorded, not retried, as onEvent's.
      this.recordError(instance, 'composeWebhook', error);
      return;
    }
    for (const outcome of outcomes) {
      if (outcome.status === 'delivered') continue;
      const retrying = outcome.status === 'failed' && outcome.retryable;
      const message =
        outcome.status === 'compose-failed'
          ? `${outcome.errorName}: ${outcome.message}`
          : `webhook not delivered after ${outcome.attempts} attempt(s)${retrying ? ', retrying durably' : ', kept as a dead letter'}: ${outcome.message}`;
      this.recordError(instance, 'composeWebhook', new PluginError({ plugin: instance.name, version: instance.version, hook: 'composeWebhook', message }), events[outcome.index]?.uuid);
      if (outcome.status !== 'failed') continue;
      // Retryable (network, 5xx, 429): a durable retry. Refused (other 4xx): a dead letter, to replay once fixed.
      if (retrying) this.exports.retries.schedule(instance, 'composeWebhook', outcome.request as unknown as JsonValue, outcome.message);
      else this.exports.retries.fail(instance, 'composeWebhook', outcome.request as unknown as JsonValue, outcome.message, outcome.attempts);
    }
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

  /** Cuts due buffers into batches and starts due export attempts and jobs (see {@link RuntimeExports.tick}). */
  private exportTick(force = false): void {
    this.exports.tick(force);
  }

  /** Replays a dead letter: it becomes a fresh export batch. `ERR_NOT_FOUND` when there is no such dead letter. */
  replayDeadLetter(id: number): { id: number; batchId: number; plugin: string; hook: string } {
    return this.exports.replayDeadLetter(id);
  }

  /** Replays every dead letter the filter covers (by plugin, hook, code, time range; all for `{}`). */
  replayDeadLetters(filter: DeadLetterFilter): { id: number; batchId: number; plugin: string; hook: string }[] {
    return this.exports.replayDeadLetters(filter);
  }

  /** Per plugin: buffered events, batches in retry and their next attempt, pending retries, dead letters. */
  deliveryProgress(): DeliveryProgress[] {
    return this.exports.progress();
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

  /** `text` (a dead-letter reason, an error) without the secret config values of plugin `name`. */
  scrubPluginText(name: string, text: string): string {
    const instance = this.instances.find((candidate) => candidate.name === name);
    return instance ? scrubText(instance, text) : text;
  }

  /** A JSON value (dead-letter events, a webhook request) with every string scrubbed of plugin `name`'s secret values. */
  scrubPluginValue<T>(name: string, value: T): T {
    const instance = this.instances.find((candidate) => candidate.name === name);
    return instance ? scrubValue(instance, value) : value;
  }

  /** Stored events (see {@link EventQuery}). */
  queryEvents(query: EventQuery = {}): PluginEvent[] {
    return this.store.queryEvents(query);
  }

  /** Per-plugin status for `GET /api/plugins`: configs redacted, recent logs and errors, chain stats (plugin-description.ts). */
  describePlugins(): PluginDescription[] {
    const progress = this.exports.progress();
    return this.instances.map((instance) => describePlugin(instance, { store: this.store, progress }));
  }

  /** One plugin as {@link describePlugins} lists it, with every kept log line. `ERR_PLUGIN_NOT_INSTALLED` when it is not in the chain. */
  describePlugin(name: string): PluginDescription {
    return describePlugin(this.instanceNamed(name), { store: this.store, progress: this.exports.progress(), allLogs: true });
  }

  /** A plugin's kept log lines, newest last (see {@link selectLogs}). `ERR_PLUGIN_NOT_INSTALLED`, `ERR_BAD_REQUEST`. */
  pluginLogs(name: string, query: PluginLogQuery = {}): PluginLogLine[] {
    return selectLogs(this.instanceNamed(name).logs, query, this.options.recentLines ?? 100);
  }

  /**
   * Runs one event through the chain without storing, exporting or sending anything (dry-run.ts
   * {@link dryRunChain}): `{ event }` is normalised as capture would (`capture`: its context), or
   * `{ uuid }` is read from the store. A plugin's own side effects in processEvent (fetch, cache,
   * storage, posthog.capture) still happen.
   */
  async dryRun(input: DryRunInput, capture: CaptureContext = {}): Promise<DryRunResult> {
    if (!this.ready || this.closed) throw new PluglineError('ERR_UNAVAILABLE', 'the runtime is not running its chain (starting or closed)');
    const event = dryRunInputEvent(input, { store: this.store, limits: this.limits }, capture);
    return dryRunChain({ instances: this.instances, store: this.store, limits: this.limits }, event, this.store.eventByUuid(event.uuid) !== undefined);
  }

  private instanceNamed(name: string): PluginInstance {
    const instance = this.instances.find((candidate) => candidate.name === name);
    if (!instance) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed`);
    return instance;
  }

  /** Stops timers, waits for in-flight work, tears plugins down and closes the store. Buffers stay on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const timer of this.timers) clearInterval(timer);
    if (!this.ready) {
      // Closed before the chain was loaded (start failed or was never called): what waits is refused, not run without plugins.
      for (const item of this.queue.splice(0)) {
        this.gate.release(item.events.length, item.bytes);
        item.reject(new PluglineError('ERR_INTERNAL', 'the runtime closed before its plugins were loaded'));
      }
      this.startedResolve();
    }
    while (this.pumping || this.queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    this.closed = true;
    await this.settle();
    for (const instance of this.instances) {
      if (!instance.sandbox) continue;
      await instance.sandbox.callHook('teardownPlugin').catch(() => null);
      instance.sandbox.dispose();
    }
    this.metrics.setDeliveryProgressSource(undefined);
    this.metrics.setPluginStatsSource(undefined);
    this.stopHostErrors();
    await closePostgresPools();
    await this.shared?.close();
    this.leases.close();
    this.quotaStore?.close();
    this.store.close();
  }
}
