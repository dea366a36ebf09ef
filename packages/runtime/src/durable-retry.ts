import type { ErrorCode, JsonValue } from '@plugline/sdk';
import type { Logger } from 'pino';
import type { ExportsHost } from './exports.js';
import type { RuntimeMetrics } from './metrics.js';
import type { PluginInstance } from './plugin-instance.js';
import { type RetryPolicy, nextAttempt } from './retry-policy.js';
import type { PendingRetry, RuntimeStore } from './store.js';

/**
 * What one attempt of a durable retry came to: delivered (`ok`), failed again but worth retrying
 * (`retry`, optionally with a smaller payload: only what is still undelivered), or failed for good
 * (`failed`: dead-lettered at once).
 */
export type RetryOutcome = { ok: true } | { retry: string; payload?: JsonValue } | { failed: string; payload?: JsonValue };

/** An attempt's outcome; a throw counts as `{ retry: message }`. */
async function outcomeOf(attempt: () => Promise<RetryOutcome>): Promise<RetryOutcome> {
  try {
    return await attempt();
  } catch (error) {
    return { retry: (error as Error).message ?? String(error) };
  }
}

/** Runs one attempt of a retry of its kind for a plugin; a throw counts as `{ retry: message }`. */
export type RetryHandler = (instance: PluginInstance, payload: JsonValue, attempt: number) => Promise<RetryOutcome>;

/** What {@link DurableRetries} needs from its owner. */
export interface DurableRetriesDeps {
  host: ExportsHost;
  store: RuntimeStore;
  metrics: RuntimeMetrics;
  logger: Logger;
  /** The plugin's retry policy (the same as its export batches'). */
  policy(instance: PluginInstance): RetryPolicy;
  /** Runs work under a store lease (false when another runtime holds it). */
  withLease(key: string, work: () => Promise<void>): Promise<boolean>;
}

/**
 * Durable retries for deliveries other than export batches, with the export batches' policy: a failed
 * delivery is written to the store (table `retries`: plugin, kind, JSON payload, attempts, next attempt,
 * first failure), so a pending retry survives a crash; the runtime's tick attempts due ones (one at a
 * time per plugin, under a lease so runtimes sharing the store do not both), with exponential backoff
 * and jitter until the retry window closes, then dead-letters them (`hook` = the kind; replaying one
 * puts it back here).
 *
 * Built in: `onEvent` (a `RetryError` thrown from `onEvent`). To make another delivery durable (e.g.
 * `composeWebhook` requests), register a handler for a new kind and call {@link schedule} after a
 * failed first attempt:
 *
 * @example
 * ```ts
 * retries.register('composeWebhook', async (instance, payload) => {
 *   const response = await fetch(...payload);
 *   return response.ok ? { ok: true } : response.status >= 500 ? { retry: `HTTP ${response.status}` } : { failed: `HTTP ${response.status}` };
 * });
 * retries.schedule(instance, 'composeWebhook', request, 'HTTP 503');
 * ```
 */
export class DurableRetries {
  private readonly handlers = new Map<string, RetryHandler>();

  constructor(private readonly deps: DurableRetriesDeps) {}

  /** Sets the handler of a kind (one per kind). */
  register(kind: string, handler: RetryHandler): void {
    this.handlers.set(kind, handler);
  }

  /**
   * Records a delivery whose first attempt failed with a retryable error: it is attempted again after
   * the policy's first backoff. Returns the retry's id.
   */
  schedule(instance: PluginInstance, kind: string, payload: JsonValue, message: string, options: { replacingJob?: number } = {}): number {
    const now = Date.now();
    const next = nextAttempt(this.deps.policy(instance), 1, now, now);
    const row = { plugin: instance.name, kind, payload, attempts: 1, nextAttemptAt: next.exhausted ? now : next.at, firstFailedAt: now, lastError: message };
    // A failed PostHog job becomes a retry in the same transaction that removes it from the jobs.
    const id = options.replacingJob === undefined ? this.deps.store.enqueueRetry(row) : this.deps.store.jobToRetry(options.replacingJob, row);
    if (next.exhausted) {
      // A policy that allows one attempt only (maxAttempts 1, or no window): straight to the dead letters.
      this.deadLetter(instance, kind, id, { version: instance.version, reason: message, code: 'ERR_RETRY_EXHAUSTED', attempts: 1 });
      return id;
    }
    this.deps.metrics.retryAttempts.inc({ plugin: instance.name, kind, outcome: 'retry' });
    return id;
  }

  /**
   * Records a delivery that failed for good on its first attempts (a webhook answered 4xx): it goes
   * straight to the dead letters (`ERR_RETRY_FAILED`), where it can be replayed, which puts it back
   * here as a retry. Returns the dead letter's id.
   */
  fail(instance: PluginInstance, kind: string, payload: JsonValue, message: string, attempts: number): number {
    const now = Date.now();
    const id = this.deps.store.enqueueRetry({ plugin: instance.name, kind, payload, attempts, nextAttemptAt: now, firstFailedAt: now, lastError: message });
    return this.deadLetter(instance, kind, id, { version: instance.version, reason: message, code: 'ERR_RETRY_FAILED', attempts });
  }

  /** Starts the due retries of every running plugin (one plugin at a time each). Called by the runtime's tick. */
  tick(): void {
    const { host, store } = this.deps;
    for (const instance of host.instances()) {
      if (instance.retrying || instance.status !== 'running' || !instance.sandbox) continue;
      if (!store.hasDueRetry(instance.name)) continue;
      instance.retrying = true;
      instance.enter();
      host.track(
        this.run(instance)
          .catch((error: unknown) => {
            this.deps.metrics.hostErrors.inc({ resource: 'sqlite' });
            this.deps.logger.error({ err: error, plugin: instance.name }, 'durable retries failed; the next tick tries again');
          })
          .finally(() => {
            instance.retrying = false;
            instance.leave();
          }),
      );
    }
  }

  private async run(instance: PluginInstance): Promise<void> {
    const { host, store } = this.deps;
    for (;;) {
      if (host.closed()) return;
      const retry = store.dueRetry(instance.name);
      if (!retry) return;
      const claimed = await this.deps.withLease(`retry:${retry.id}`, async () => {
        const current = store.dueRetry(instance.name);
        // Done or rescheduled by another runtime between our read and our claim.
        if (!current || current.id !== retry.id || current.attempts !== retry.attempts) return;
        await this.attempt(instance, current);
      });
      if (!claimed) return;
    }
  }

  /**
   * Runs the first attempt of a delivery whose retry row was written with the data it delivers
   * (attempts 0, see RuntimeStore.storeEvents `firstRuns`), under the row's lease so no other runtime
   * (and no tick) runs it meanwhile, and settles the row like a retry: removed when delivered,
   * rescheduled with the policy's first backoff, or dead-lettered. A runtime that dies before settling
   * leaves the row, which is then retried like any other.
   */
  async runFirst(instance: PluginInstance, retry: Pick<PendingRetry, 'id' | 'kind' | 'firstFailedAt'>, first: () => Promise<RetryOutcome>): Promise<void> {
    await this.deps.withLease(`retry:${retry.id}`, async () => {
      this.settle(instance, { ...retry, attempts: 0 }, await outcomeOf(first), true);
    });
  }

  private async attempt(instance: PluginInstance, retry: PendingRetry): Promise<void> {
    const handler = this.handlers.get(retry.kind);
    const attempts = retry.attempts + 1;
    const outcome: RetryOutcome = handler ? await outcomeOf(() => handler(instance, retry.payload, attempts)) : { failed: `no handler for retries of kind ${retry.kind} in this runtime` };
    this.settle(instance, retry, outcome, false);
  }

  /** Applies an attempt's outcome to its row (the attempt was number `retry.attempts + 1`). */
  private settle(instance: PluginInstance, retry: Pick<PendingRetry, 'id' | 'kind' | 'firstFailedAt' | 'attempts'>, outcome: RetryOutcome, first: boolean): void {
    const { store, metrics } = this.deps;
    const attempts = retry.attempts + 1;
    if ('ok' in outcome) {
      store.retryDone(retry.id);
      // A first attempt that delivered was never a retry.
      if (!first) metrics.retryAttempts.inc({ plugin: instance.name, kind: retry.kind, outcome: 'success' });
      return;
    }
    const now = Date.now();
    const next = 'retry' in outcome ? nextAttempt(this.deps.policy(instance), attempts, retry.firstFailedAt, now) : ({ exhausted: true } as const);
    const reason = 'retry' in outcome ? outcome.retry : outcome.failed;
    if (!next.exhausted) {
      store.retryLater(retry.id, attempts, next.at, reason, outcome.payload);
      metrics.retryAttempts.inc({ plugin: instance.name, kind: retry.kind, outcome: 'retry' });
      return;
    }
    const code: ErrorCode = 'retry' in outcome ? 'ERR_RETRY_EXHAUSTED' : 'ERR_RETRY_FAILED';
    this.deadLetter(instance, retry.kind, retry.id, { version: instance.version, reason, code, attempts }, outcome.payload);
  }

  private deadLetter(instance: PluginInstance, kind: string, retryId: number, failure: { version: string; reason: string; code: ErrorCode; attempts: number }, payload?: JsonValue): number {
    const { store, metrics, logger } = this.deps;
    const id = store.retryToDeadLetter(retryId, failure, payload);
    metrics.retryAttempts.inc({ plugin: instance.name, kind, outcome: 'dead_letter' });
    metrics.deadLetters.inc({ plugin: instance.name });
    logger.error({ plugin: instance.name, version: instance.version, kind, deadLetter: id, attempts: failure.attempts, code: failure.code }, `retry ${retryId} (${kind}) sent to the dead-letter store`);
    return id;
  }
}
