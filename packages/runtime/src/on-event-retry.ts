import { type HookName, type JsonValue, type PluginEvent, PluginError } from '@plugline/sdk';
import type { RetryHandler, RetryOutcome } from './durable-retry.js';
import type { PluginInstance } from './plugin-instance.js';
import type { OnEventFailure } from './sandbox/sandbox.js';

type RecordError = (instance: PluginInstance, hook: HookName, error: unknown, eventUuid?: string) => unknown;

/**
 * Records the `onEvent` failures of one crossing (each as a plugin error) and returns the events whose
 * `onEvent` threw a `RetryError` (to retry durably), with a reason.
 */
export function recordOnEventFailures(instance: PluginInstance, events: readonly PluginEvent[], failures: readonly OnEventFailure[], recordError: RecordError) {
  const retry: PluginEvent[] = [];
  let reason = '';
  for (const failure of failures) {
    const message = `${failure.errorName}: ${failure.message}`;
    recordError(instance, 'onEvent', new PluginError({ plugin: instance.name, version: instance.version, hook: 'onEvent', message }), events[failure.index]?.uuid);
    const event = events[failure.index];
    if (failure.errorName === 'RetryError' && event) {
      retry.push(event);
      reason ||= message;
    }
  }
  return { retry, reason };
}

/**
 * The `onEvent` attempt over `events`: one crossing; the events that threw a `RetryError` are the ones
 * to retry (`{ retry, payload }`), other failures are recorded as errors and not retried. A crossing
 * that fails as a whole (timeout, memory) is recorded and not retried either, as PostHog does.
 */
export async function attemptOnEvent(instance: PluginInstance, events: readonly PluginEvent[], recordError: RecordError, options: { depth?: number; json?: string } = {}): Promise<RetryOutcome> {
  let failures: OnEventFailure[];
  try {
    failures = await instance.sandbox!.onEventBatch(options.json ?? JSON.stringify(events), events.length, options.depth ?? 0);
  } catch (error) {
    recordError(instance, 'onEvent', error);
    return { ok: true };
  }
  const { retry, reason } = recordOnEventFailures(instance, events, failures, recordError);
  if (retry.length === 0) return { ok: true };
  return { retry: reason, payload: retry as unknown as JsonValue };
}

/**
 * The durable-retry handler of kind `onEvent`: runs `onEvent` again over the events of the row: the
 * events themselves (those that threw a `RetryError`), or `{ stored: [uuid, ...] }`, a first attempt
 * that never settled (its runtime died), read back from the store by `load`.
 */
export function onEventRetryHandler(recordError: RecordError, load: (uuids: readonly string[]) => PluginEvent[]): RetryHandler {
  return async (instance, payload) => {
    if (!instance.has('onEvent')) return { failed: `${instance.name} has no onEvent hook (any more)` };
    const stored = (payload as { stored?: unknown } | null)?.stored;
    const events = Array.isArray(stored) ? load(stored as string[]) : (payload as unknown as PluginEvent[]);
    if (events.length === 0) return { ok: true };
    return attemptOnEvent(instance, events, recordError);
  };
}
