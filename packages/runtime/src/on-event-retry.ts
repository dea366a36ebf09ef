import { type HookName, type JsonValue, type PluginEvent, PluginError } from '@plugline/sdk';
import type { RetryHandler } from './durable-retry.js';
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
 * The durable-retry handler of kind `onEvent`: runs `onEvent` again over the events that threw a
 * `RetryError` (one crossing); those that throw a `RetryError` again are retried later, other failures
 * are recorded as errors and not retried (as on the first pass).
 */
export function onEventRetryHandler(recordError: RecordError): RetryHandler {
  return async (instance, payload) => {
    if (!instance.has('onEvent')) return { failed: `${instance.name} has no onEvent hook (any more)` };
    const events = payload as unknown as PluginEvent[];
    const failures = await instance.sandbox!.onEventBatch(JSON.stringify(events), events.length);
    const { retry, reason } = recordOnEventFailures(instance, events, failures, recordError);
    if (retry.length === 0) return { ok: true };
    return { retry: reason, payload: retry as unknown as JsonValue };
  };
}
