import { type PluginEvent, PluginError, invalidEventReason } from '@plugline/sdk';
import type { PluginStepStats } from './plugin-stats.js';
import { type BatchOutcome, type LineBatch, type PluginSandbox, type SandboxCrash, linesToBatch, parseLineBatch, toLineBatch } from './sandbox/sandbox.js';

/** One sandboxed plugin of the chain. */
export interface SandboxedStep {
  name: string;
  version: string;
  sandbox: PluginSandbox;
  /**
   * Where this step's counts and time per event go (plugin-stats.ts); without it nothing is counted
   * (the dry run, the bench). The time is the crossing's wall time (waiting for the isolate included)
   * divided by the events given to the step.
   */
  stats?: PluginStepStats;
}

/** A failure while running the chain: per event (`index`) or of a whole crossing (no `index`). */
export interface SandboxedChainFailure {
  step: SandboxedStep;
  error: PluginError;
  /** The event's position in the batch, when one event failed; absent when the whole crossing failed. */
  index?: number;
}

/** What {@link runSandboxedChain} produced for a batch. */
export interface SandboxedChainResult {
  /** Output per input position: the event (stamped) or `null` when a plugin dropped it. */
  events: (PluginEvent | null)[];
  /** `name (version)` of the plugin that dropped each dropped event. */
  droppedBy: (string | undefined)[];
  failures: SandboxedChainFailure[];
}

/**
 * The sandboxed chain driver: sends the whole batch through each plugin's isolate once (the SDK's
 * `runProcessEventChain` runs inside the isolate per event), passing the JSON output of one plugin
 * straight to the next. Semantics are the SDK driver's: order kept, `null` drops, a throw leaves the
 * event as it was before that plugin. A crossing that fails as a whole (timeout, memory) leaves every
 * event of the batch unchanged by that plugin. `$plugins_succeeded` / `$plugins_failed` are stamped.
 *
 * @example
 * ```ts
 * const { events, failures } = await runSandboxedChain(steps, batch);
 * ```
 */
export async function runSandboxedChain(
  steps: readonly SandboxedStep[],
  input: readonly PluginEvent[],
  options: { depth?: number; lines?: readonly string[] } = {},
): Promise<SandboxedChainResult> {
  const depth = options.depth ?? 0;
  // `lines`: each input event's JSON when the caller has it already (the runtime measured it at ingest).
  const lines = options.lines && options.lines.length === input.length ? options.lines : undefined;
  if (input.length <= SLICE_EVENTS) return runSlice(steps, input, depth, lines);
  const result: SandboxedChainResult = { events: [], droppedBy: [], failures: [] };
  for (let start = 0; start < input.length; start += SLICE_EVENTS) {
    const slice = await runSlice(steps, input.slice(start, start + SLICE_EVENTS), depth, lines?.slice(start, start + SLICE_EVENTS));
    result.events.push(...slice.events);
    result.droppedBy.push(...slice.droppedBy);
    for (const failure of slice.failures) result.failures.push(failure.index === undefined ? failure : { ...failure, index: failure.index + start });
  }
  return result;
}

// A big batch goes through the chain in slices of this many events, one after the other. Inside an
// isolate everything a crossing carries stays alive until it returns; past a few hundred events of
// about 1 KB that outgrows the young generation (1.4 MB at the default 64 MB heap) and is promoted and
// collected as old objects, which costs more than the extra crossings (see bench/README.md).
const SLICE_EVENTS = 256;

async function runSlice(steps: readonly SandboxedStep[], input: readonly PluginEvent[], depth: number, lines?: readonly string[]): Promise<SandboxedChainResult> {
  const succeeded: string[][] = input.map(() => []);
  const failed: string[][] = input.map(() => []);
  const droppedBy: (string | undefined)[] = input.map(() => undefined);
  const failures: SandboxedChainFailure[] = [];
  let batch = lines ? linesToBatch(lines) : toLineBatch(input);
  // Events not dropped yet: what each step is given.
  let live = input.length;
  for (const step of steps) {
    const label = `${step.name} (${step.version})`;
    const stats = step.stats;
    if (stats) stats.eventsIn += live;
    let result: { outcomes: BatchOutcome[]; output: LineBatch } | undefined;
    const started = stats ? performance.now() : 0;
    try {
      result = await step.sandbox.processBatch(batch, input.length, depth);
      if (stats && live > 0) stats.time((performance.now() - started) / live);
    } catch (cause) {
      const crash = (cause instanceof PluginError ? cause : new PluginError({ plugin: step.name, version: step.version, hook: 'processEvent', cause })) as SandboxCrash;
      const culprit = crash.eventIndex;
      if (culprit !== undefined && input.length > 1) {
        // The sandbox knows which event it was stopped on: that event fails, and the rest of the
        // batch runs again (once) in the fresh isolate, so one bad event does not cost the others.
        failures.push({ step, error: crash, index: culprit });
        failed[culprit]!.push(label);
        if (stats) stats.failed += 1;
        result = await rerunWithout(step, batch, culprit, input.length, depth).catch((again: unknown) => {
          failures.push({ step, error: again instanceof PluginError ? again : crash });
          return undefined;
        });
        if (!result) {
          for (let index = 0; index < input.length; index++) if (index !== culprit && droppedBy[index] === undefined) failed[index]!.push(label);
          if (stats) stats.failed += live - 1;
        }
      } else {
        failures.push({ step, error: crash });
        for (let index = 0; index < input.length; index++) if (droppedBy[index] === undefined) failed[index]!.push(label);
        if (stats) stats.failed += live;
      }
      if (!result) continue;
    }
    const { outcomes, output } = result;
    if (!Array.isArray(outcomes) || outcomes.length !== input.length) {
      failures.push({ step, error: new PluginError({ plugin: step.name, version: step.version, hook: 'processEvent', message: 'the sandbox returned a malformed batch' }) });
      for (let index = 0; index < input.length; index++) if (droppedBy[index] === undefined) failed[index]!.push(label);
      if (stats) stats.failed += live;
      continue;
    }
    let passed = 0;
    let dropped = 0;
    let failedHere = 0;
    for (let index = 0; index < outcomes.length; index++) {
      const outcome = outcomes[index];
      if (outcome === 1) {
        succeeded[index]!.push(label);
        passed += 1;
      } else if (outcome === 2) {
        succeeded[index]!.push(label);
        droppedBy[index] = label;
        dropped += 1;
      } else if (outcome && typeof outcome === 'object') {
        failed[index]!.push(label);
        failedHere += 1;
        failures.push({
          step,
          index,
          // An async event past its bound (sandbox/harden.ts makeEventBound) is a timeout of that event alone.
          error: Object.assign(
            new PluginError({
              plugin: step.name,
              version: step.version,
              hook: 'processEvent',
              ...(outcome.errorName === 'PluglineEventTimeout' ? { code: 'ERR_PLUGIN_TIMEOUT' as const, message: outcome.message } : { message: `${outcome.errorName}: ${outcome.message}` }),
            }),
            // The sandbox was not restarted: only this event timed out.
            outcome.errorName === 'PluglineEventTimeout' ? { eventTimeout: true } : {},
          ),
        });
      }
    }
    live -= dropped;
    if (stats) {
      stats.eventsOut += passed;
      stats.dropped += dropped;
      stats.failed += failedHere;
    }
    batch = output;
  }
  // Parsed from JSON, the output events are the host's own copies; the input events are the caller's.
  let output: (PluginEvent | null)[];
  try {
    output = parseLineBatch(batch) as (PluginEvent | null)[];
    if (!Array.isArray(output) || output.length !== input.length) throw new Error('length mismatch');
  } catch {
    output = input.map((event) => structuredClone(event));
  }
  const events = output.map((event, index) => {
    if (event === null || droppedBy[index] !== undefined) return null;
    const original = input[index]!;
    // The isolate enforces this per plugin; re-checked here because the host must not trust its output.
    const safe = invalidEventReason(event, original) ? structuredClone(original) : event;
    if (succeeded[index]!.length > 0) safe.properties.$plugins_succeeded = succeeded[index];
    if (failed[index]!.length > 0) safe.properties.$plugins_failed = failed[index];
    return safe;
  });
  return { events, droppedBy, failures };
}

/** Runs a batch again without one event (kept as it was); that event's outcome stays 0 (failure recorded by the caller). */
async function rerunWithout(step: SandboxedStep, batch: LineBatch, skip: number, count: number, depth: number): Promise<{ outcomes: BatchOutcome[]; output: LineBatch }> {
  const events = parseLineBatch(batch) as (PluginEvent | null)[];
  const held = events[skip] ?? null;
  events[skip] = null;
  const again = await step.sandbox.processBatch(toLineBatch(events), count, depth);
  const output = parseLineBatch(again.output) as (PluginEvent | null)[];
  output[skip] = held;
  again.outcomes[skip] = 0;
  const rebuilt = toLineBatch(output);
  rebuilt[0] = JSON.stringify(again.outcomes);
  return { outcomes: again.outcomes, output: rebuilt };
}
