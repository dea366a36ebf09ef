import type { PluginEvent, PluginMeta } from './plugin.js';

/** One plugin as the chain driver sees it: identity, its `processEvent` (if any) and its `meta`. */
export interface ChainStep {
  name: string;
  version: string;
  processEvent?: ((event: PluginEvent, meta: PluginMeta<never, never>) => unknown) | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the driver passes meta through untouched
  meta: PluginMeta<any, any>;
}

/** A failure inside the chain, with what failed where. Plain data, so it can cross a sandbox boundary. */
export interface ChainFailure {
  plugin: string;
  version: string;
  hook: 'processEvent';
  message: string;
  /** The error's `name` (e.g. `TypeError`), or `InvalidResult` when the hook returned a non-event. */
  errorName: string;
}

/** What one event's trip through the chain produced. */
export interface ChainResult {
  /** The event after the last plugin, or `null` when a plugin dropped it. */
  event: PluginEvent | null;
  /** `name (version)` of each plugin whose `processEvent` ran without error. */
  succeeded: string[];
  /** `name (version)` of each plugin whose `processEvent` threw or returned something invalid. */
  failed: string[];
  failures: ChainFailure[];
  /** `name (version)` of the plugin that dropped the event, if one did. */
  droppedBy?: string;
}

/** Options of {@link runProcessEventChain}. */
export interface ChainOptions {
  /** Stamp `$plugins_succeeded` / `$plugins_failed` on the event's properties, as PostHog does. */
  stamp?: boolean;
  /**
   * Deep-copies an event. Defaults to `structuredClone`, or a JSON round trip where that does not exist
   * (a bare V8 isolate); events are JSON, so both are exact.
   */
  clone?: (event: PluginEvent) => PluginEvent;
}

const defaultClone: (event: PluginEvent) => PluginEvent =
  typeof structuredClone === 'function' ? (event) => structuredClone(event) : (event) => JSON.parse(JSON.stringify(event)) as PluginEvent;

/**
 * The sequential chain driver: runs `processEvent` of each step in order, feeding each the previous
 * output. `null`/`undefined` drops the event and stops the chain; a throw (or a returned non-event) is
 * recorded and the event continues as it was before that plugin. The runtime runs this same driver.
 *
 * @example
 * ```ts
 * const { event, failed } = await runProcessEventChain(steps, incoming, { stamp: true });
 * ```
 */
export async function runProcessEventChain(
  steps: readonly ChainStep[],
  input: PluginEvent,
  options: ChainOptions = {},
): Promise<ChainResult> {
  let event = input;
  const succeeded: string[] = [];
  const failed: string[] = [];
  const failures: ChainFailure[] = [];
  const clone = options.clone ?? defaultClone;
  for (const step of steps) {
    if (!step.processEvent) continue;
    const label = `${step.name} (${step.version})`;
    // Each plugin gets its own copy, so one that edits the event and then throws leaves no trace.
    const before = clone(event);
    try {
      const output = await step.processEvent(clone(event), step.meta as PluginMeta<never, never>);
      if (output === null || output === undefined) {
        return { event: null, succeeded: [...succeeded, label], failed, failures, droppedBy: label };
      }
      const problem = invalidEventReason(output, before);
      if (problem) {
        failed.push(label);
        failures.push({ plugin: step.name, version: step.version, hook: 'processEvent', message: problem, errorName: 'InvalidResult' });
        event = before;
        continue;
      }
      event = output as PluginEvent;
      succeeded.push(label);
    } catch (error) {
      failed.push(label);
      failures.push({
        plugin: step.name,
        version: step.version,
        hook: 'processEvent',
        message: error instanceof Error ? error.message : String(error),
        errorName: error instanceof Error ? error.name : typeof error,
      });
      event = before;
    }
  }
  if (options.stamp) {
    event.properties = { ...event.properties };
    if (succeeded.length > 0) event.properties.$plugins_succeeded = succeeded;
    if (failed.length > 0) event.properties.$plugins_failed = failed;
  }
  return { event, succeeded, failed, failures };
}

/** Why a `processEvent` result is not a usable event, or `undefined` when it is. */
export function invalidEventReason(output: unknown, before: PluginEvent): string | undefined {
  if (typeof output !== 'object' || Array.isArray(output)) return `returned ${Array.isArray(output) ? 'an array' : typeof output}, not an event`;
  const candidate = output as Partial<PluginEvent>;
  if (typeof candidate.event !== 'string' || candidate.event === '') return 'returned an event without an "event" name';
  if (typeof candidate.distinct_id !== 'string') return 'returned an event without a string "distinct_id"';
  if (typeof candidate.properties !== 'object' || candidate.properties === null || Array.isArray(candidate.properties)) {
    return 'returned an event whose "properties" is not an object';
  }
  if (candidate.uuid !== before.uuid) return 'changed the event uuid, which is not allowed';
  if (candidate.team_id !== before.team_id) return 'changed the event team_id, which is not allowed';
  return undefined;
}
