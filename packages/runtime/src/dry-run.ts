// The chain's dry run (POST /api/chain/dry-run): one event through each running plugin's processEvent,
// one step at a time, showing what each did, and what onEvent, exportEvents and composeWebhook would get.
// Nothing is stored, buffered, retried or sent, and no counter of the runtime changes.
import { isDeepStrictEqual } from 'node:util';
import { type PluginEvent, PluglineError, isPluglineError } from '@plugline/sdk';
import { type CaptureContext, parseCapturePayload } from './capture.js';
import { runSandboxedChain } from './chain.js';
import { ignoredEvents } from './exports.js';
import { type IngestLimits, measureEvent } from './limits.js';
import type { PluginInstance } from './plugin-instance.js';
import { scrubValue } from './redact.js';
import type { RuntimeStore } from './store.js';
import { toWebhookRequest } from './webhooks.js';

/** The body of `POST /api/chain/dry-run`: an event as a client would capture it, or a stored event's uuid. */
export type DryRunInput = { event: Record<string, unknown> } | { uuid: string };

/** What one plugin did with the event in a dry run. */
export type DryRunStepStatus = 'changed' | 'unchanged' | 'dropped' | 'failed' | 'skipped';

/** Why a plugin was skipped: not enabled, in `error` status, without processEvent, or the event was dropped before it. */
export type DryRunSkipReason = 'disabled' | 'error' | 'no processEvent' | 'dropped earlier';

/** One plugin of the chain, in chain order (disabled and errored plugins included, as `skipped`). */
export interface DryRunStep {
  plugin: string;
  version: string;
  status: DryRunStepStatus;
  /** Only for `skipped`. */
  reason?: DryRunSkipReason;
  /** The event as the plugin got it (`null` once dropped). `$plugins_succeeded`/`$plugins_failed` are stamped on `output` only, as the chain does. */
  before: PluginEvent | null;
  /** The event as the plugin passed it on: `null` when dropped, as it was before when the plugin failed. */
  after: PluginEvent | null;
  /** Only for `failed`: the error code (`ERR_PLUGIN_THREW`, `ERR_PLUGIN_TIMEOUT`, ...) and message. */
  error?: { code: string; message: string };
  /** Wall time of the step, ms (0 for skipped steps). */
  durationMs: number;
}

/** A webhook a plugin's composeWebhook composed for the output event: shown, never sent. */
export interface DryRunWebhook {
  plugin: string;
  /** The request the runtime would send (absent when composing failed). */
  request?: { url: string; method: string; headers: Record<string, string>; body: string | null };
  /** Why composing failed (absent when it worked). */
  error?: { code: string; message: string };
}

/** The answer of {@link dryRunChain} and `POST /api/chain/dry-run`. Every plugin's secret config values are masked throughout. */
export interface DryRunResult {
  /** The event as capture normalised it (uuid, timestamp, `$ip`, ...), or the stored event. */
  input: PluginEvent;
  steps: DryRunStep[];
  /** What the runtime would store: the last step's event with `$plugins_succeeded`/`$plugins_failed`; `null` when dropped. */
  output: PluginEvent | null;
  /** One per running composeWebhook plugin that composed a request for `output`. */
  webhooks: DryRunWebhook[];
  /** Running plugins whose exportEvents (unless `exportEventsToIgnore` names the event) or onEvent would get `output`. */
  exports: string[];
  /**
   * An event with this uuid is stored already: a real capture would skip it as a duplicate (no onEvent,
   * export or webhook). `webhooks` and `exports` say what a new event would reach.
   */
  duplicate: boolean;
  /** What a dry run does not hold back: see {@link dryRunNote}. */
  note: string;
}

/** Said in every answer: a dry run does not sandbox a plugin's own side effects. */
export const dryRunNote =
  "Nothing was stored, exported, retried or sent by the runtime, and no plugin counter changed; but what a plugin's processEvent does itself (fetch to granted hosts, meta.cache and meta.storage writes, posthog.capture) did happen. composeWebhook ran to show its requests, which were not sent.";

/** What a dry run reads from the runtime. */
export interface DryRunContext {
  /** The chain as it runs, in order (disabled and errored plugins included). */
  instances: readonly PluginInstance[];
  store: RuntimeStore;
  limits: Pick<IngestLimits, 'maxEventBytes' | 'maxEventDepth'>;
}

const usage = 'The body must be { "event": { "event": "...", "distinct_id": "...", "properties": { ... } } } or { "uuid": "<uuid of a stored event>" }';
const STAMPS = ['$plugins_succeeded', '$plugins_failed'] as const;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The event a dry run starts from: `{ event }` normalised as capture normalises it (uuid filled in,
 * timestamp by PostHog's rules, `$ip` only when the event carries one: the caller's address is not a
 * client's) and held to the per-event limits; or `{ uuid }` read from the store, without the
 * `$plugins_succeeded`/`$plugins_failed` of the run that stored it. `ERR_BAD_REQUEST`,
 * `ERR_PAYLOAD_INVALID` (the event is malformed or too large) or `ERR_NOT_FOUND` (no such stored event).
 */
export function dryRunInputEvent(input: unknown, context: Pick<DryRunContext, 'store' | 'limits'>, capture: CaptureContext = {}): PluginEvent {
  if (!isObject(input) || ('event' in input) === ('uuid' in input)) throw new PluglineError('ERR_BAD_REQUEST', usage);
  let event: PluginEvent;
  if ('uuid' in input) {
    if (typeof input.uuid !== 'string' || input.uuid === '') throw new PluglineError('ERR_BAD_REQUEST', `"uuid" must be a non-empty string. ${usage}`);
    const stored = context.store.eventByUuid(input.uuid);
    if (!stored) throw new PluglineError('ERR_NOT_FOUND', `No stored event has uuid ${input.uuid}`);
    for (const key of STAMPS) delete stored.properties[key];
    event = stored;
  } else {
    if (!isObject(input.event) || 'batch' in input.event) throw new PluglineError('ERR_BAD_REQUEST', `"event" must be one event object. ${usage}`);
    const parsed = parseCapturePayload(input.event, capture);
    if (parsed.errors.length > 0 || parsed.events.length !== 1) throw new PluglineError('ERR_PAYLOAD_INVALID', `The event is malformed: ${parsed.errors.join('; ')}`);
    event = parsed.events[0]!;
  }
  const measured = measureEvent(event, context.limits);
  if ('reason' in measured) throw new PluglineError('ERR_PAYLOAD_INVALID', `The event is refused: ${measured.reason}`);
  return event;
}

/**
 * Runs one event through the chain as it runs now, one plugin at a time (each step is
 * `runSandboxedChain` with that plugin alone, so the chain's semantics hold: `null` drops, a throw
 * leaves the event as it was), then asks each composeWebhook plugin for its request, and lists who
 * would export the result. Nothing is stored, buffered for export, retried or sent, and the plugins'
 * stats, error counts and recent errors do not change. What a plugin's processEvent itself does
 * (fetch to granted hosts, cache and storage writes, `posthog.capture`) still happens; a step that
 * times out restarts that plugin's isolate, as it would on a real event. Every plugin's secret config
 * values are masked in the answer.
 *
 * @example
 * ```ts
 * const answer = await dryRunChain({ instances, store, limits }, event);
 * answer.steps.map((step) => `${step.plugin}: ${step.status}`);
 * ```
 */
export async function dryRunChain(context: DryRunContext, input: PluginEvent, duplicate = false): Promise<DryRunResult> {
  const instances = context.instances;
  const mask = <T>(value: T): T => instances.reduce((masked, instance) => scrubValue(instance, masked), value);
  for (const instance of instances) instance.enter();
  try {
    const steps: DryRunStep[] = [];
    const succeeded: string[] = [];
    const failed: string[] = [];
    let current: PluginEvent | null = structuredClone(input);
    for (const instance of instances) {
      const skip = (reason: DryRunSkipReason) => steps.push({ plugin: instance.name, version: instance.version, status: 'skipped', reason, before: current, after: current, durationMs: 0 });
      if (instance.status !== 'running') skip(instance.status === 'disabled' ? 'disabled' : 'error');
      else if (!instance.has('processEvent')) skip('no processEvent');
      else if (current === null) skip('dropped earlier');
      else {
        const before: PluginEvent = current;
        const started = performance.now();
        // Without `stats`: the chain counts nothing for a dry run.
        const result = await runSandboxedChain([{ name: instance.name, version: instance.version, sandbox: instance.sandbox! }], [before], { depth: 0 });
        const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
        const failure = result.failures[0];
        const after = result.events[0] ?? null;
        if (after) unstamp(after, before, failure ? '$plugins_failed' : '$plugins_succeeded');
        const base = { plugin: instance.name, version: instance.version, before, after, durationMs };
        if (failure) {
          failed.push(instance.label);
          const code = isPluglineError(failure.error) ? (failure.error as PluglineError).code : 'ERR_PLUGIN_THREW';
          steps.push({ ...base, status: 'failed', error: { code, message: failure.error.message } });
        } else {
          succeeded.push(instance.label);
          steps.push({ ...base, status: after === null ? 'dropped' : isDeepStrictEqual(after, before) ? 'unchanged' : 'changed' });
        }
        current = after;
      }
    }
    let output: PluginEvent | null = null;
    if (current !== null) {
      output = structuredClone(current);
      if (succeeded.length > 0) output.properties.$plugins_succeeded = succeeded;
      if (failed.length > 0) output.properties.$plugins_failed = failed;
    }
    const webhooks = output ? await composeWebhooks(instances, output) : [];
    const exports = output === null ? [] : instances.filter((instance) => (instance.has('exportEvents') && !ignoredEvents(instance.config)?.has(output.event)) || instance.has('onEvent')).map((instance) => instance.name);
    return mask({ input, steps, output, webhooks, exports, duplicate, note: dryRunNote });
  } finally {
    for (const instance of instances) instance.leave();
  }
}

/** Undoes the one stamp runSandboxedChain put on a single step's event (the dry run stamps `output` itself). */
function unstamp(after: PluginEvent, before: PluginEvent, key: (typeof STAMPS)[number]): void {
  if (key in before.properties) after.properties[key] = structuredClone(before.properties[key]);
  else delete after.properties[key];
}

/** Each running composeWebhook plugin's request for the event, composed in its isolate and not sent. */
async function composeWebhooks(instances: readonly PluginInstance[], event: PluginEvent): Promise<DryRunWebhook[]> {
  const webhooks: DryRunWebhook[] = [];
  const json = JSON.stringify([event]);
  for (const instance of instances) {
    if (!instance.has('composeWebhook')) continue;
    try {
      const [entry] = await instance.sandbox!.composeWebhooks(json, 1);
      if (!entry) continue;
      if ('error' in entry) {
        webhooks.push({ plugin: instance.name, error: { code: 'ERR_PLUGIN_THREW', message: `${instance.name}@${instance.version} composeWebhook: ${entry.error.errorName}: ${entry.error.message}` } });
        continue;
      }
      const request = toWebhookRequest(entry.webhook);
      webhooks.push({ plugin: instance.name, request: { url: request.url, method: request.method, headers: Object.fromEntries(request.headers), body: request.body } });
    } catch (error) {
      webhooks.push({ plugin: instance.name, error: { code: isPluglineError(error) ? (error as PluglineError).code : 'ERR_PLUGIN_THREW', message: String((error as Error).message ?? error) } });
    }
  }
  return webhooks;
}
