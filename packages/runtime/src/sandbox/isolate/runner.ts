/**
 * The runner, built after the plugin module is evaluated (sandbox.ts' RUNNER_SOURCE calls it with the
 * prelude's internals, the SDK chain module's namespace, the plugin module's namespace and the
 * progress SharedArrayBuffer). It returns the functions the host calls, each taking and returning
 * strings so that one crossing carries a whole batch. The built-ins it uses were captured when the
 * prelude bundle was evaluated, before the plugin's code ran.
 */
import { ArrayIsArray, freeze, jsonParse, jsonStringify, objectEntries, PromiseAll, PromiseCtor, PromiseResolve } from './intrinsics.js';
import type { Meta } from './meta.js';

type Hook = (...args: unknown[]) => unknown;
type PluginObject = Record<string, unknown>;
/** A failure as the host reads it. */
interface Described {
  message: string;
  errorName: string;
}
type Outcome = 0 | 1 | 2 | Described;

export const HOOKS = ['setupPlugin', 'teardownPlugin', 'processEvent', 'onEvent', 'exportEvents', 'runEveryMinute', 'runEveryHour', 'runEveryDay', 'getSettings', 'composeWebhook'] as const;
const WINDOW = 256;
// Events cross in chunks of about this many characters rather than as one string: a string past
// ~128 KB goes to V8's large-object space, whose pages are mapped fresh for each allocation, and those
// page faults cost more than the JSON itself.
const CHUNK_CHARS = 32768;

/** The plugin object of a module namespace: its default export when that is an object, else its named exports. */
export function pluginOf(namespace: Record<string, unknown>): PluginObject {
  const fallback = namespace.default;
  return fallback && typeof fallback === 'object' ? (fallback as PluginObject) : { ...namespace };
}

export function describe(error: unknown): Described {
  if (error instanceof Error || (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string')) {
    const e = error as { message: unknown; name?: unknown };
    return { message: String(e.message), errorName: String(e.name || 'Error') };
  }
  return { message: String(error), errorName: typeof error };
}

/** [head, chunk, chunk...]: the lines joined by newlines into chunks of about CHUNK_CHARS. */
export function toChunks(head: string, lines: readonly string[]): string[] {
  const chunks = [head];
  let chunk: string | null = null;
  for (let index = 0; index < lines.length; index++) {
    chunk = chunk === null ? lines[index]! : `${chunk}\n${lines[index]!}`;
    if (chunk.length >= CHUNK_CHARS) {
      chunks.push(chunk);
      chunk = null;
    }
  }
  if (chunk !== null) chunks.push(chunk);
  return chunks;
}

interface Internals {
  meta: Meta;
  takeBuffered: () => string | null;
  name: string;
  version: string;
}
interface ChainNamespace {
  invalidEventReason: (output: unknown, identity: { uuid: unknown; team_id: unknown }) => string | undefined | null;
}

/** The per-event bound of async hooks (harden.ts' makeEventBound): the output, or a rejection once the bound passes. */
type EventBound = (output: unknown) => Promise<unknown>;

export function createRunner(
  internals: Internals,
  chain: ChainNamespace,
  namespace: Record<string, unknown>,
  progressBuffer: SharedArrayBuffer,
  eventBound?: EventBound,
) {
  // Shared with the host: [0] = index of the event being processed, [1] = 1 while the sync path runs.
  // If the isolate is stopped (timeout, memory), the host reads which event was running.
  const progress = new Int32Array(progressBuffer);
  const plugin = pluginOf(namespace);
  const { meta } = internals;
  // PostHog's metrics export ({ name: 'sum' | 'max' | 'min' }): meta.metrics[name].increment / .max / .min,
  // into the same per-plugin metrics as meta.metrics.increment(name).
  if (plugin.metrics && typeof plugin.metrics === 'object') {
    const base = meta.metrics as Record<string, (name: string, value: unknown) => void>;
    const metrics: Record<string, unknown> = { ...base };
    const kinds: Record<string, string> = { sum: 'increment', max: 'max', min: 'min' };
    for (const [metricName, operation] of objectEntries(plugin.metrics as Record<string, unknown>)) {
      const kind = kinds[operation as string];
      if (!kind || metricName in metrics) continue;
      metrics[metricName] = freeze({ [kind]: (value: unknown) => base[kind]!(metricName, value) });
    }
    meta.metrics = freeze(metrics);
  }
  // PostHog's deprecated processEventBatch stands in for processEvent when that is missing, as PostHog did.
  if (typeof plugin.processEvent !== 'function' && typeof plugin.processEventBatch === 'function') {
    const batchHook = plugin.processEventBatch as Hook;
    plugin.processEvent = async (event: unknown, m: unknown) => {
      const output = await batchHook.call(plugin, [event], m);
      return Array.isArray(output) ? output[0] : output;
    };
  }
  const processEvent = typeof plugin.processEvent === 'function' ? plugin.processEvent : undefined;
  const invalidEventReason = chain.invalidEventReason;

  /** The output line of one event the plugin handled: its JSON, or the input line when the result is unusable. */
  function settle(lines: string[], out: string[], outcomes: Outcome[], index: number, identity: { uuid: unknown; team_id: unknown }, output: unknown): void {
    if (output === null || output === undefined) {
      out[index] = 'null';
      outcomes[index] = 2;
      return;
    }
    const problem = invalidEventReason(output, identity);
    if (problem) {
      outcomes[index] = { message: problem, errorName: 'InvalidResult' };
      out[index] = lines[index + 1]!;
      return;
    }
    let text: string | undefined;
    try {
      text = jsonStringify(output);
    } catch {
      text = undefined;
    }
    if (typeof text !== 'string') {
      outcomes[index] = { message: 'returned an event that is not JSON-serialisable', errorName: 'InvalidResult' };
      out[index] = lines[index + 1]!;
      return;
    }
    out[index] = text;
    outcomes[index] = 1;
  }

  /**
   * Runs processEvent over the batch with the SDK driver's semantics for one step (the event as it was
   * before on a throw or an invalid result; null drops). Events arrive one JSON line each (lines[0] is
   * the previous step's outcomes) and are parsed one at a time, so only the events in flight are alive
   * at once: a whole parsed batch would outgrow the isolate's young generation and be promoted and
   * collected as old objects, which cost more than the JSON itself. An event the plugin broke is
   * restored by keeping its input line. A synchronous hook costs no promise per event. A hook that
   * returns a promise (async hooks) is settled when it resolves, up to WINDOW events in flight so that
   * awaited fetches and storage calls overlap; the loop resumes as soon as one of them settles.
   */
  function processEvents(lines: string[], outcomes: Outcome[]): string[] | Promise<string[]> {
    const count = outcomes.length;
    const out = new Array<string>(count);
    let inFlight = 0;
    let wake: (() => void) | null = null;
    const settled = () => {
      inFlight -= 1;
      if (wake !== null) {
        const resume = wake;
        wake = null;
        resume();
      }
    };
    const waitForSlot = () =>
      new PromiseCtor<void>((resolve) => {
        wake = resolve;
      });
    // Runs events from index "from" until the end, or until WINDOW promises are in flight; returns where it stopped.
    const runFrom = (from: number): number => {
      progress[1] = 1;
      for (let index = from; index < count; index++) {
        progress[0] = index;
        const line = lines[index + 1]!;
        const event = line === 'null' ? null : (jsonParse(line) as Record<string, unknown> | null);
        if (event === null || typeof event !== 'object') {
          out[index] = 'null';
          continue;
        }
        const identity = { uuid: event.uuid, team_id: event.team_id };
        let output: unknown;
        try {
          output = (plugin.processEvent as Hook)(event, meta);
        } catch (error) {
          outcomes[index] = describe(error);
          out[index] = line;
          continue;
        }
        if (output !== null && typeof output === 'object' && typeof (output as { then?: unknown }).then === 'function') {
          inFlight += 1;
          // An event whose promise does not settle within the bound fails alone (its line is kept).
          (eventBound ? eventBound(output) : PromiseResolve(output))
            .then(
              (value) => settle(lines, out, outcomes, index, identity, value),
              (error: unknown) => {
                outcomes[index] = describe(error);
                out[index] = line;
              },
            )
            .then(settled);
          if (inFlight >= WINDOW) {
            progress[1] = 0;
            return index + 1;
          }
          continue;
        }
        settle(lines, out, outcomes, index, identity, output);
      }
      // Continuations of awaited events run after this: a plugin stuck there is not this index's fault.
      progress[1] = 0;
      return count;
    };
    const finish = () => toChunks(jsonStringify(outcomes), out);
    let next = runFrom(0);
    if (inFlight === 0) return finish();
    return (async () => {
      while (next < count) {
        await waitForSlot();
        next = runFrom(next);
      }
      while (inFlight > 0) await waitForSlot();
      return finish();
    })();
  }

  /**
   * Input: a batch as the host's toLineBatch makes it, [outcomes JSON, chunk, chunk...], each chunk being
   * event JSON lines joined by newlines ("null" for an event dropped upstream); or a plain JSON array of
   * events. Output: a batch in the same form, with this plugin's outcomes first. Outcome per index:
   * 0 skipped, 1 succeeded, 2 dropped, or a failure object.
   */
  function processBatch(input: string | string[]): string[] | Promise<string[]> {
    const lines = [''];
    if (typeof input === 'string') {
      // A plain JSON array (tests, direct callers): one line per event.
      const events = jsonParse(input) as unknown[];
      for (let index = 0; index < events.length; index++) lines.push(jsonStringify(events[index] ?? null));
    } else {
      for (let chunk = 1; chunk < input.length; chunk++) {
        const part = input[chunk]!.split('\n');
        for (let index = 0; index < part.length; index++) lines.push(part[index]!);
      }
    }
    const outcomes = new Array<Outcome>(lines.length - 1).fill(0);
    if (!processEvent) return toChunks(jsonStringify(outcomes), lines.slice(1));
    return processEvents(lines, outcomes);
  }

  /**
   * onEvent for each event of the batch; returns a JSON array of failures (index, message, name). Each
   * event is this isolate's own copy (parsed from the batch's JSON), so the plugin may change it, as
   * PostHog allowed (`delete event.properties.$set`): nothing else sees the change.
   */
  async function onEventBatch(input: string): Promise<string> {
    const events = jsonParse(input) as unknown[];
    const failures: (Described & { index: number })[] = [];
    await PromiseAll(
      events.map(async (event, index) => {
        try {
          await (plugin.onEvent as Hook)(event, meta);
        } catch (error) {
          failures.push({ index, ...describe(error) });
        }
      }),
    );
    return jsonStringify(failures);
  }

  /**
   * PostHog's composeWebhook(event, meta) for each event of the batch: the host sends what it returns.
   * Returns a JSON array, one entry per event: null (no webhook), { webhook: { url, method, headers,
   * body } } with strings only, or { error: { message, errorName } }.
   */
  async function composeWebhookBatch(input: string): Promise<string> {
    const events = jsonParse(input) as unknown[];
    const results = await PromiseAll(
      events.map(async (event) => {
        try {
          const webhook = (await (plugin.composeWebhook as Hook)(event, meta)) as Record<string, unknown> | null | undefined;
          if (webhook === null || webhook === undefined) return null;
          if (typeof webhook !== 'object' || typeof webhook.url !== 'string') {
            return { error: { message: 'composeWebhook returned something that is not a webhook ({ url, method?, headers?, body? })', errorName: 'InvalidResult' } };
          }
          const headers: Record<string, string> = {};
          if (webhook.headers && typeof webhook.headers === 'object') {
            for (const [name, value] of objectEntries(webhook.headers as Record<string, unknown>)) headers[name] = String(value);
          }
          const body = webhook.body === undefined || webhook.body === null ? null : typeof webhook.body === 'string' ? webhook.body : jsonStringify(webhook.body);
          return { webhook: { url: webhook.url, method: String(webhook.method ?? 'POST').toUpperCase(), headers, body } };
        } catch (error) {
          return { error: describe(error) };
        }
      }),
    );
    return jsonStringify(results);
  }

  /** Any other hook; args JSON array is passed before meta. Returns null, or the error as JSON. */
  async function callHook(hook: string, argsJson: string): Promise<string> {
    // "jobs.<name>" runs a PostHog job: plugin.jobs[name](payload, meta).
    const isJob = hook.startsWith('jobs.');
    const owner = (isJob ? plugin.jobs : plugin) as PluginObject | undefined;
    const key = isJob ? hook.slice(5) : hook;
    if (!owner || typeof owner[key] !== 'function') return isJob ? jsonStringify({ message: `no job named ${key}`, errorName: 'Error' }) : 'null';
    try {
      await (owner[key] as Hook)(...(jsonParse(argsJson) as unknown[]), meta);
      return 'null';
    } catch (error) {
      return jsonStringify(describe(error));
    }
  }

  // Every hook call hands the logs and metrics it buffered to the host with its result, in the same
  // crossing: [result, buffered JSON or null] when there are some or the result is itself an array
  // (a batch), the bare result otherwise.
  const takeBuffered = internals.takeBuffered;
  function withBuffered(result: unknown): unknown {
    const buffered = takeBuffered();
    return buffered === null && !ArrayIsArray(result) ? result : [result, buffered];
  }
  function handOver(result: unknown): unknown {
    return result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function'
      ? (result as Promise<unknown>).then(withBuffered)
      : withBuffered(result);
  }
  return {
    /** The logs and metrics buffered since the last call, as JSON, or null (see the prelude's takeBuffered). */
    drain: () => takeBuffered(),
    hooks: () =>
      [...HOOKS.filter((hook) => typeof plugin[hook] === 'function'), ...(plugin.jobs && typeof plugin.jobs === 'object' ? ['jobs'] : [])].join(','),
    /** PostHog's getSettings(meta) -> { handlesLargeBatches }, as JSON ('{}' when absent or failing). */
    settings: () => {
      try {
        const settings = typeof plugin.getSettings === 'function' ? (plugin.getSettings as Hook)(meta) : null;
        return jsonStringify(
          settings && typeof settings === 'object' && (settings as { handlesLargeBatches?: unknown }).handlesLargeBatches === true ? { handlesLargeBatches: true } : {},
        );
      } catch {
        return '{}';
      }
    },
    processBatch: (input: string | string[]) => handOver(processBatch(input)),
    onEventBatch: (input: string) => handOver(onEventBatch(input)),
    composeWebhookBatch: (input: string) => handOver(composeWebhookBatch(input)),
    callHook: (hook: string, argsJson: string) => handOver(callHook(hook, argsJson)),
  };
}
