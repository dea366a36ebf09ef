import { type ErrorCode, type HookName, type JsonValue, PluginError, PluglineError, isPluglineError } from '@plugline/sdk';
import type { Logger } from 'pino';
import type { RuntimeMetrics } from './metrics.js';
import type { PluginErrorRecord, PluginInstance } from './plugin-instance.js';
import type { StoreLeases } from './state-leases.js';
import { DurableRetries, type RetryOutcome } from './durable-retry.js';
import { type RetryPolicy, defaultRetryPolicy, nextAttempt } from './retry-policy.js';
import { runWithLease } from './state-leases.js';
import type { DeadLetterFilter, DeliveryProgress, RuntimeStore } from './store.js';

/**
 * When an export buffer is flushed and how a failing batch is retried ({@link RetryPolicy}: the same
 * policy applies to `onEvent` `RetryError`s and every other durable retry of the plugin).
 */
export interface ExportSettings extends RetryPolicy {
  /** Flush when this many events are buffered (default 1000). */
  maxEvents: number;
  /** Flush when the buffered events reach this many bytes of JSON (default 1 MiB). */
  maxBytes: number;
  /** Flush when the oldest buffered event is this old, ms (default 10 000). */
  maxAgeMs: number;
  /**
   * Once an export of a plugin succeeds again, put its dead letters that ran out of retries
   * (`ERR_EXPORT_RETRY_EXHAUSTED`) back into the export queue (default false).
   */
  redriveOnRecovery: boolean;
}

/** PostHog's `exportEventsToIgnore` config key: comma-separated event names never exported. */
export function ignoredEvents(config: Record<string, unknown>): ReadonlySet<string> | undefined {
  const value = config.exportEventsToIgnore;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  return new Set(value.split(',').map((name) => name.trim()).filter(Boolean));
}

export const defaultExportSettings: ExportSettings = { maxEvents: 1000, maxBytes: 1024 * 1024, maxAgeMs: 10_000, ...defaultRetryPolicy, redriveOnRecovery: false };

/** What {@link RuntimeExports} needs from the runtime that owns it. */
export interface ExportsHost {
  /** The loaded chain (it changes on hot reload). */
  instances(): readonly PluginInstance[];
  /** Whether the runtime is closing (no new attempts start). */
  closed(): boolean;
  /** Tracks background work so that `settle()` and `close()` wait for it. */
  track(work: Promise<unknown>): void;
  /** Records a plugin failure (counted, kept, logged). */
  recordError(instance: PluginInstance, hook: HookName, error: unknown, eventUuid?: string): PluginErrorRecord;
}

/**
 * The runtime's durable background delivery: export buffers cut into batches, export attempts with
 * backoff and dead letters, and PostHog jobs, all in the {@link RuntimeStore}, coordinated across
 * runtimes sharing the store by {@link StoreLeases}. Owned by one `Runtime`, driven by its tick.
 */
export class RuntimeExports {
  /** Durable retries of other hooks (`onEvent` `RetryError`, ...): register a handler per kind. */
  readonly retries: DurableRetries;

  constructor(
    private readonly host: ExportsHost,
    private readonly store: RuntimeStore,
    private readonly leases: StoreLeases,
    private readonly metrics: RuntimeMetrics,
    private readonly logger: Logger,
    private readonly exportDefaults: ExportSettings,
    private readonly options: { leaseMs?: number },
  ) {
    this.retries = new DurableRetries({
      host,
      store,
      metrics,
      logger,
      policy: (instance) => this.exportSettings(instance),
      withLease: (key, work) => this.withLease(key, work),
    });
    this.retries.register('job', (instance, payload) => this.retryJob(instance, payload));
  }


  exportSettings(instance: PluginInstance): ExportSettings {
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
      ...(s.exportRetryWindowMs !== undefined ? { retryWindowMs: s.exportRetryWindowMs } : {}),
      ...(s.exportBackoffBaseMs ? { backoffBaseMs: s.exportBackoffBaseMs } : {}),
      ...(s.exportBackoffMaxMs ? { backoffMaxMs: s.exportBackoffMaxMs } : {}),
      ...(s.exportRedriveOnRecovery !== undefined ? { redriveOnRecovery: s.exportRedriveOnRecovery } : {}),
    };
  }

  /**
   * Cuts due buffers into batches and starts due export attempts (one at a time per plugin), due jobs
   * and due durable retries. Never throws: it runs from a timer, and a store error (e.g. SQLite busy
   * past its timeout) is logged and counted, and the next tick tries again.
   */
  tick(force = false): void {
    if (this.host.closed()) return;
    try {
      this.jobsTick();
      this.retries.tick();
      for (const instance of this.host.instances()) {
        if (!instance.has('exportEvents') || instance.exporting) continue;
        instance.exporting = true;
        this.host.track(
          this.exportPlugin(instance, force)
            .catch((error: unknown) => this.storeFailed('export', error, instance.name))
            .finally(() => instance.exportDone()),
        );
      }
    } catch (error) {
      this.storeFailed('tick', error);
    }
  }

  private storeFailed(where: string, error: unknown, plugin?: string): void {
    this.metrics.hostErrors.inc({ resource: 'sqlite' });
    this.logger.error({ err: error, where, ...(plugin ? { plugin } : {}) }, 'the runtime store failed; the next tick tries again');
  }

  private jobsTick(): void {
    for (const instance of this.host.instances()) {
      if (!instance.has('jobs') || instance.runningJobs) continue;
      if (this.store.dueJobs(instance.name, Date.now(), 1).length === 0) continue;
      instance.runningJobs = true;
      instance.enter();
      this.host.track(
        this.runJobs(instance).finally(() => {
          instance.runningJobs = false;
          instance.leave();
        }),
      );
    }
  }

  /** Runs a plugin's due jobs; a `RetryError` becomes a durable retry (the export policy), other errors are recorded and the job dropped. */
  private async runJobs(instance: PluginInstance): Promise<void> {
    for (const job of this.store.dueJobs(instance.name)) {
      if (this.host.closed()) return;
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
    const message = this.recordJobFailure(instance, job.name, failure);
    // A RetryError: a durable retry with the export policy (kind `job`, then a replayable dead letter).
    if (failure.errorName === 'RetryError') this.retries.schedule(instance, 'job', { name: job.name, payload: job.payload }, message, { replacingJob: job.id });
    else this.store.jobDone(job.id);
  }

  private recordJobFailure(instance: PluginInstance, name: string, failure: { message: string; errorName: string }): string {
    const message = `${failure.errorName}: ${failure.message}`;
    this.host.recordError(instance, `jobs.${name}`, new PluginError({ plugin: instance.name, version: instance.version, hook: `jobs.${name}`, message }));
    return message;
  }

  /** The durable-retry handler of kind `job`: the job runs again; a RetryError retries it, another error ends it. */
  private async retryJob(instance: PluginInstance, payload: JsonValue): Promise<RetryOutcome> {
    const { name, payload: data } = payload as { name: string; payload: JsonValue };
    if (!instance.sandbox) return { failed: `${instance.name} is not running` };
    let failure: { message: string; errorName: string } | null;
    try {
      failure = await instance.sandbox.callHook(`jobs.${name}`, [data]);
    } catch (error) {
      failure = { message: (error as Error).message, errorName: 'Error' };
    }
    if (!failure) return { ok: true };
    const message = this.recordJobFailure(instance, name, failure);
    return failure.errorName === 'RetryError' ? { retry: message } : { failed: message };
  }

  private async exportPlugin(instance: PluginInstance, force: boolean): Promise<void> {
    const settings = this.exportSettings(instance);
    for (;;) {
      // A replaced instance (config change, upgrade) stops here so that its successor takes over.
      if (this.host.closed() || !this.host.instances().includes(instance)) return;
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
  private withLease(key: string, work: () => Promise<void>): Promise<boolean> {
    return runWithLease(this.leases, key, this.options.leaseMs ?? 5000, this.logger, work);
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
      this.recovered(instance, settings);
      return;
    }
    this.host.recordError(instance, 'exportEvents', new PluginError({ plugin: instance.name, version: instance.version, hook: 'exportEvents', message: `attempt ${attempts}: ${failure.message}` }));
    const now = Date.now();
    const next = failure.retry ? nextAttempt(settings, attempts, batch.firstFailedAt ?? now, now) : ({ exhausted: true } as const);
    if (!next.exhausted) {
      this.store.batchRetryLater(batch.id, attempts, next.at, failure.message, now);
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
   * An export of the plugin succeeded: the destination answers again. Its other batches waiting for a
   * retry are tried now instead of at their scheduled time, and with `redriveOnRecovery` its dead
   * letters that ran out of retries go back into the export queue.
   */
  private recovered(instance: PluginInstance, settings: ExportSettings): void {
    const pulled = this.store.retryBatchesNow(instance.name);
    if (pulled > 0) this.logger.info({ plugin: instance.name, batches: pulled }, 'an export succeeded again: batches waiting for a retry are tried now');
    if (!settings.redriveOnRecovery) return;
    const replayed = this.store.replayDeadLetters({ plugin: instance.name, hook: 'exportEvents', code: 'ERR_EXPORT_RETRY_EXHAUSTED' });
    if (replayed.length === 0) return;
    this.metrics.deadLettersReplayed.inc({ plugin: instance.name, trigger: 'recovery' }, replayed.length);
    this.logger.info({ plugin: instance.name, deadLetters: replayed.length }, 'an export succeeded again: dead letters re-driven (redriveOnRecovery)');
  }

  /** Replays a dead letter: it becomes a fresh export batch (or durable retry). `ERR_NOT_FOUND` when there is no such dead letter. */
  replayDeadLetter(id: number): { id: number; batchId: number; plugin: string; hook: string } {
    const replayed = this.store.replayDeadLetter(id);
    if (!replayed) throw new PluglineError('ERR_NOT_FOUND', `no dead letter ${id}`);
    this.metrics.deadLettersReplayed.inc({ plugin: replayed.plugin, trigger: 'api' });
    this.tick();
    return { id, ...replayed };
  }

  /** Replays every dead letter the filter covers (all of them for an empty filter); returns what was replayed. */
  replayDeadLetters(filter: DeadLetterFilter): { id: number; batchId: number; plugin: string; hook: string }[] {
    const replayed = this.store.replayDeadLetters(filter);
    for (const item of replayed) this.metrics.deadLettersReplayed.inc({ plugin: item.plugin, trigger: 'api' });
    if (replayed.length > 0) this.tick();
    return replayed;
  }

  /** What waits to be delivered, per plugin (every loaded plugin, plus any other with pending work). */
  progress(): DeliveryProgress[] {
    return this.store.deliveryProgress(this.host.instances().map((instance) => instance.name));
  }
}
