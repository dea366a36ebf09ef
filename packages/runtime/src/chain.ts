import { type PluginEvent, PluginError, invalidEventReason } from '@plugline/sdk';
import { type PluginSandbox, batchEventsJson } from './sandbox/sandbox.js';

/** One sandboxed plugin of the chain. */
export interface SandboxedStep {
  name: string;
  version: string;
  sandbox: PluginSandbox;
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
export async function runSandboxedChain(steps: readonly SandboxedStep[], input: readonly PluginEvent[]): Promise<SandboxedChainResult> {
  const succeeded: string[][] = input.map(() => []);
  const failed: string[][] = input.map(() => []);
  const droppedBy: (string | undefined)[] = input.map(() => undefined);
  const failures: SandboxedChainFailure[] = [];
  let json = JSON.stringify(input);
  for (const step of steps) {
    const label = `${step.name} (${step.version})`;
    try {
      const { outcomes, output } = await step.sandbox.processBatch(json, input.length);
      if (!Array.isArray(outcomes) || outcomes.length !== input.length) throw new Error('the sandbox returned a malformed batch');
      for (let index = 0; index < outcomes.length; index++) {
        const result = outcomes[index];
        if (result === 1) succeeded[index]!.push(label);
        else if (result === 2) {
          succeeded[index]!.push(label);
          droppedBy[index] = label;
        } else if (result && typeof result === 'object') {
          failed[index]!.push(label);
          failures.push({
            step,
            index,
            error: new PluginError({ plugin: step.name, version: step.version, hook: 'processEvent', message: `${result.errorName}: ${result.message}` }),
          });
        }
      }
      json = output;
    } catch (cause) {
      const error =
        cause instanceof PluginError ? cause : new PluginError({ plugin: step.name, version: step.version, hook: 'processEvent', cause });
      failures.push({ step, error });
      for (let index = 0; index < input.length; index++) if (droppedBy[index] === undefined) failed[index]!.push(label);
    }
  }
  let output: (PluginEvent | null)[];
  try {
    output = JSON.parse(batchEventsJson(json)) as (PluginEvent | null)[];
    if (!Array.isArray(output) || output.length !== input.length) throw new Error('length mismatch');
  } catch {
    output = [...input];
  }
  const events = output.map((event, index) => {
    if (event === null || droppedBy[index] !== undefined) return null;
    const original = input[index]!;
    // The isolate enforces this per plugin; re-checked here because the host must not trust its output.
    const safe = invalidEventReason(event, original) ? structuredClone(original) : event;
    safe.properties = { ...safe.properties };
    if (succeeded[index]!.length > 0) safe.properties.$plugins_succeeded = succeeded[index];
    if (failed[index]!.length > 0) safe.properties.$plugins_failed = failed[index];
    return safe;
  });
  return { events, droppedBy, failures };
}
