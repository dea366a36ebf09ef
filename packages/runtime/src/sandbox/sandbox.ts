import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type HookName, PluginError } from '@plugline/sdk';
import ivm from 'isolated-vm';
import { createModuleResolver } from './isolate-modules.js';
import { RUNNER_SOURCE } from './prelude.js';
import { runPrelude } from './prelude-loader.js';
import { EVENT_BOUND_SOURCE, defaultWasmMemoryBytes, hardenSource } from './harden.js';

/** Host services one plugin's sandbox may call; every call crosses as JSON strings. */
export interface SandboxHost {
  /** Synchronous services (logs, metrics, URL parsing, random bytes): payload in, JSON string out. */
  sync(op: string, payload: unknown): string | undefined;
  /** Asynchronous services (storage, cache, fetch, geoip, postgres): resolves with a JSON-able value. */
  async(op: string, payload: unknown): Promise<unknown>;
}

/** Limits of one plugin's sandbox. */
export interface SandboxLimits {
  /** V8 heap cap of the isolate in MB (isolated-vm's minimum is 8). Default 64. */
  memoryLimitMb?: number;
  /** CPU time cap of one hook call in ms; a batch crossing gets this plus `perEventTimeoutMs` per event. Default 1000. */
  timeoutMs?: number;
  /** Extra CPU time a batch crossing gets per event, ms (default 1): 1000 events get 1000 + 1000 ms. */
  perEventTimeoutMs?: number;
  /** Wall-clock cap of one crossing including awaited host calls (fetch, storage) in ms. Default 5000. */
  wallTimeoutMs?: number;
  /**
   * Wall-clock bound of one event of an async `processEvent`, ms (default half of `wallTimeoutMs`; 0
   * turns it off): an event whose promise has not settled by then fails alone and leaves its batch,
   * kept as it was before that plugin, instead of holding the batch until `wallTimeoutMs`.
   */
  asyncEventTimeoutMs?: number;
  /** Asynchronous host calls (fetch, storage, ...) in flight at once; the rest wait (default 32). */
  maxHostCallsInFlight?: number;
  /** Leave `WebAssembly` available (an operator grant; default false: removed from the isolate). */
  allowWasm?: boolean;
  /** With `allowWasm`: the sum of the maxima of every WebAssembly memory the isolate may create, MB (default 64). */
  wasmMemoryMb?: number;
}

/** What a sandbox needs to load a plugin. */
export interface SandboxOptions extends SandboxLimits {
  name: string;
  version: string;
  /** Integrity of the tarball the code came from: the compiled-code cache key. */
  integrity: string;
  /** The plugin's `main` file: one self-contained ESM bundle. */
  code: string;
  config: Record<string, unknown>;
  attachments?: Record<string, unknown>;
  capabilities?: readonly string[];
  host: SandboxHost;
}

/** The outcome of one event in a `processEvent` batch for one plugin. */
export type BatchOutcome = 0 | 1 | 2 | { message: string; errorName: string };

/** A stopped batch crossing; `eventIndex` is the event that was running, when the sandbox knows it. */
export type SandboxCrash = PluginError & { eventIndex?: number };

/** What `composeWebhook` gave for one event: nothing, a webhook for the host to send, or an error. */
export type ComposedWebhook = null | { webhook: { url: string; method: string; headers: Record<string, string>; body: string | null } } | { error: { message: string; errorName: string } };

/** A failure of a single `onEvent` call in a batch. */
export interface OnEventFailure {
  index: number;
  message: string;
  errorName: string;
}

/**
 * A batch as {@link PluginSandbox.processBatch} passes it between plugins: `[outcomes JSON, chunk,
 * chunk...]`, each chunk being one JSON line per event (`null` for an event already dropped) joined by
 * newlines. JSON never contains a raw newline, so the lines split exactly. Chunks stay small (about
 * 32K characters) because V8 maps a fresh large-object page for every string past ~128 KB, and those
 * page faults cost more than the JSON.
 */
export type LineBatch = string[];

const CHUNK_CHARS = 32_768;

/** The {@link LineBatch} of some events (outcomes empty), for {@link PluginSandbox.processBatch}. */
export function toLineBatch(events: readonly unknown[]): LineBatch {
  return linesToBatch(events.map((event) => JSON.stringify(event ?? null)));
}

/** A {@link LineBatch} from each event's JSON line: the lines joined by newlines into chunks of about 32K characters. */
export function linesToBatch(lines: readonly string[]): LineBatch {
  const batch: LineBatch = [''];
  let chunk: string | undefined;
  for (const line of lines) {
    chunk = chunk === undefined ? line : `${chunk}\n${line}`;
    if (chunk.length >= CHUNK_CHARS) {
      batch.push(chunk);
      chunk = undefined;
    }
  }
  if (chunk !== undefined) batch.push(chunk);
  return batch;
}

/** The events of a {@link LineBatch} (or of a plain JSON array string), parsed. */
export function parseLineBatch(batch: LineBatch | string): unknown[] {
  if (typeof batch === 'string') return JSON.parse(batch) as unknown[];
  const events: unknown[] = [];
  for (let index = 1; index < batch.length; index++) {
    const parsed = JSON.parse(`[${batch[index]!.replaceAll('\n', ',')}]`) as unknown[];
    for (const event of parsed) events.push(event);
  }
  return events;
}

/** The events of a {@link LineBatch} as one JSON array string. */
export function batchEventsJson(batch: LineBatch | string): string {
  return typeof batch === 'string' ? batch : JSON.stringify(parseLineBatch(batch));
}

/**
 * A failed host service call as the isolate receives it: "!" and the error's name, message and code as
 * JSON (an answer that is JSON never starts with "!"). The prelude throws it again as an Error with
 * that `code`, so a plugin can tell a refused connection (ECONNREFUSED) or a SQLSTATE from a bug; an
 * error thrown across isolated-vm would keep only its message.
 */
export function hostErrorAnswer(error: unknown): string {
  const failure = error instanceof Error ? error : new Error(String(error));
  const cause = (failure as { cause?: unknown }).cause;
  // fetch (undici) says "fetch failed" and keeps the socket's code on its cause.
  const code = (failure as { code?: unknown }).code ?? (cause instanceof Error ? (cause as { code?: unknown }).code : undefined);
  return `!${JSON.stringify({ name: failure.name, message: failure.message, ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}) })}`;
}

// V8 code cache per tarball integrity: recreating an isolate (after a crash or a config change)
// skips parsing the plugin bundle again.
const codeCache = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

let chainSource: string | undefined;
/** The SDK's chain driver, compiled inside every isolate so the chain semantics are the SDK's own. */
function sdkChainSource(): string {
  if (chainSource) return chainSource;
  const entry = fileURLToPath(import.meta.resolve('@plugline/sdk'));
  chainSource = readFileSync(new URL('./chain.js', `file://${entry}`), 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  return chainSource;
}

/** At most `limit` holders at once; the others wait in order. */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }
}

const ISOLATE_MEMORY_MESSAGE = /memory limit|disposed during execution due to memory/i;
const TIMEOUT_MESSAGE = /Script execution timed out/i;

/**
 * One plugin in its own V8 isolate (isolated-vm): no Node, no `require`, no `process`; only the
 * prelude's globals and the `meta` bridged to {@link SandboxHost}. A call that runs past its time cap
 * or exhausts the isolate's memory disposes the isolate; the next call recreates it (and the owner
 * re-runs `setupPlugin`, see {@link PluginSandbox.onRestart}).
 */
export class PluginSandbox {
  readonly name: string;
  readonly version: string;
  /** Hooks the plugin defines, known after {@link start}. */
  hooks: ReadonlySet<string> = new Set();
  /** What the plugin's PostHog-style `getSettings()` answered when the sandbox started. */
  settings: { handlesLargeBatches?: boolean } = {};
  /** How many times the isolate was disposed because of a timeout or memory exhaustion. */
  restarts = 0;
  /** Called after the isolate was recreated, before the call that needed it runs. */
  onRestart: (() => Promise<void>) | undefined;
  /**
   * The capture depth of the events the running batch calls carry (the deepest, 0 for clients' events
   * or no batch; see the runtime's `captureDepth` quota): what `posthog.capture` calls made meanwhile
   * derive theirs from.
   */
  get activeDepth(): number {
    return this.depths.length === 0 ? 0 : Math.max(...this.depths);
  }
  private readonly depths: number[] = [];

  private readonly options: SandboxOptions;
  private readonly memoryLimitMb: number;
  private readonly timeoutMs: number;
  private readonly wallTimeoutMs: number;
  private readonly perEventTimeoutMs: number;
  private isolate: ivm.Isolate | undefined;
  private functions:
    | { processBatch: ivm.Reference; onEventBatch: ivm.Reference; callHook: ivm.Reference; drain: ivm.Reference; composeWebhookBatch: ivm.Reference }
    | undefined;
  private starting: Promise<void> | undefined;
  private disposed = false;
  // Written by the isolate: [0] which event of the batch is running, [1] 1 while the sync path runs
  // (see prelude RUNNER_SOURCE), [2] 1 while logs or metrics are buffered (see PRELUDE_SCRIPT).
  private readonly progress = new SharedArrayBuffer(12);
  private batchLock: Promise<void> = Promise.resolve();
  private readonly hostCalls: Semaphore;

  constructor(options: SandboxOptions) {
    this.options = options;
    this.name = options.name;
    this.version = options.version;
    this.memoryLimitMb = Math.max(8, options.memoryLimitMb ?? 64);
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.wallTimeoutMs = options.wallTimeoutMs ?? 5000;
    this.perEventTimeoutMs = options.perEventTimeoutMs ?? 1;
    this.hostCalls = new Semaphore(Math.max(1, options.maxHostCallsInFlight ?? 32));
  }

  /** Creates the isolate and loads the plugin. Throws a `PluginError` (`ERR_PLUGIN_LOAD`) when the code does not load. */
  async start(): Promise<void> {
    this.starting ??= this.load().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async load(): Promise<void> {
    const { options } = this;
    const isolate = new ivm.Isolate({ memoryLimit: this.memoryLimitMb });
    try {
      const context = await isolate.createContext();
      const hostSync = new ivm.Reference((op: unknown, payload: unknown) => {
        if (typeof op !== 'string' || typeof payload !== 'string') throw new TypeError('bad host call');
        return options.host.sync(op, JSON.parse(payload));
      });
      const hostAsync = new ivm.Reference(async (op: unknown, payload: unknown) => {
        if (typeof op !== 'string' || typeof payload !== 'string') throw new TypeError('bad host call');
        // What the host holds for this plugin (fetch bodies, query rows) is bounded by the calls in flight.
        await this.hostCalls.acquire();
        try {
          const value = await options.host.async(op, JSON.parse(payload));
          return value === undefined ? undefined : JSON.stringify(value);
        } catch (error) {
          return hostErrorAnswer(error);
        } finally {
          this.hostCalls.release();
        }
      });
      const init = JSON.stringify({
        name: options.name,
        version: options.version,
        config: options.config,
        attachments: options.attachments ?? {},
        capabilities: options.capabilities ?? [],
      });
      // Memory the heap cap does not see (WebAssembly, resizable buffers): removed or bounded first.
      await context.eval(hardenSource({ allowWasm: options.allowWasm === true, wasmMemoryBytes: options.wasmMemoryMb ? options.wasmMemoryMb * 1024 * 1024 : defaultWasmMemoryBytes }), {
        timeout: this.timeoutMs,
        filename: 'plugline:harden',
      });
      const pendingFlag = new ivm.ExternalCopy(this.progress).copyInto({ release: true });
      const internals = await runPrelude(isolate, context, [hostSync, hostAsync, init, pendingFlag], this.timeoutMs);
      // Made before the plugin's code runs, so that what it replaces at load (Promise.race, Reflect.apply)
      // cannot reach the bound.
      // The isolate has no timers: the per-event bound of async hooks sleeps on the host.
      const eventBoundMs = options.asyncEventTimeoutMs ?? Math.floor(this.wallTimeoutMs / 2);
      const sleep = new ivm.Reference((ms: unknown) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(Math.max(0, Number(ms) || 0), this.wallTimeoutMs * 2)).unref()));
      const eventBound =
        eventBoundMs > 0
          ? ((await context.evalClosure(EVENT_BOUND_SOURCE, [sleep, eventBoundMs], { result: { reference: true }, timeout: this.timeoutMs, filename: 'plugline:event-bound' })) as unknown as ivm.Reference).derefInto()
          : undefined;

      const rejectImports = (specifier: string): never => {
        throw new Error(`Cannot import '${specifier}': plugins must be one self-contained bundle`);
      };
      const chain = await isolate.compileModule(sdkChainSource(), { filename: 'plugline:sdk-chain' });
      await chain.instantiate(context, rejectImports);
      await chain.evaluate({ timeout: this.timeoutMs });

      const cached = codeCache.get(options.integrity);
      const compileOptions = cached
        ? { filename: `plugin:${options.name}@${options.version}`, cachedData: cached }
        : { filename: `plugin:${options.name}@${options.version}`, produceCachedData: true };
      let plugin: ivm.Module;
      try {
        plugin = await isolate.compileModule(options.code, compileOptions);
        const produced = (plugin as unknown as { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData;
        if (!cached && produced) codeCache.set(options.integrity, produced);
        await plugin.instantiate(context, createModuleResolver(isolate, context));
        await plugin.evaluate({ timeout: this.timeoutMs });
      } catch (cause) {
        throw new PluginError({ plugin: options.name, version: options.version, hook: 'load', code: 'ERR_PLUGIN_LOAD', cause });
      }

      const runner = (await context.evalClosure(
        RUNNER_SOURCE,
        [internals.derefInto(), chain.namespace.derefInto(), plugin.namespace.derefInto(), new ivm.ExternalCopy(this.progress).copyInto({ release: true }), eventBound],
        { result: { reference: true }, timeout: this.timeoutMs, filename: 'plugline:runner' },
      )) as unknown as ivm.Reference;
      const hooksRef = (await runner.get('hooks', { reference: true })) as ivm.Reference;
      const hookList = (await hooksRef.apply(undefined, [], { timeout: this.timeoutMs })) as string;
      this.hooks = new Set(hookList ? hookList.split(',') : []);
      const settingsRef = (await runner.get('settings', { reference: true })) as ivm.Reference;
      this.settings = JSON.parse((await settingsRef.apply(undefined, [], { timeout: this.timeoutMs })) as string) as { handlesLargeBatches?: boolean };
      this.functions = {
        processBatch: (await runner.get('processBatch', { reference: true })) as ivm.Reference,
        onEventBatch: (await runner.get('onEventBatch', { reference: true })) as ivm.Reference,
        callHook: (await runner.get('callHook', { reference: true })) as ivm.Reference,
        drain: (await runner.get('drain', { reference: true })) as ivm.Reference,
        composeWebhookBatch: (await runner.get('composeWebhookBatch', { reference: true })) as ivm.Reference,
      };
      this.isolate = isolate;
      await this.drainBuffered(isolate);
    } catch (error) {
      if (!isolate.isDisposed) isolate.dispose();
      if (error instanceof PluginError) throw error;
      throw this.classify(error, 'load', isolate);
    }
  }

  /**
   * Runs `processEvent` over a batch in one crossing. `input` is a JSON array of events (`null` for
   * events already dropped), a {@link toLineBatch}, or the `output` of another plugin's `processBatch`,
   * passed on as is. Returns per-index outcomes and `output` (a {@link LineBatch}): give it to the
   * next plugin unchanged, and read the events with {@link parseLineBatch}.
   */
  async processBatch(input: LineBatch | string, eventCount = 1, depth = 0): Promise<{ outcomes: BatchOutcome[]; output: LineBatch }> {
    // One batch at a time per sandbox (the isolate runs one call at a time anyway): a batch that crashes
    // the isolate must not take the next one down with it, and the progress cell names one batch's event.
    const previous = this.batchLock;
    let release: () => void = () => {};
    this.batchLock = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    this.depths.push(depth);
    try {
      return await this.processBatchNow(input, eventCount);
    } finally {
      this.depths.splice(this.depths.indexOf(depth), 1);
      release();
    }
  }

  private async processBatchNow(input: LineBatch | string, eventCount: number): Promise<{ outcomes: BatchOutcome[]; output: LineBatch }> {
    const progress = new Int32Array(this.progress);
    progress[1] = 0;
    let output: LineBatch;
    try {
      output = (await this.invoke('processEvent', 'processBatch', [input], eventCount)) as LineBatch;
    } catch (error) {
      // Stopped in the middle of the sync path: name the event that was running.
      if (error instanceof PluginError && progress[1] === 1 && (error.code === 'ERR_PLUGIN_TIMEOUT' || error.code === 'ERR_PLUGIN_MEMORY')) {
        (error as SandboxCrash).eventIndex = progress[0];
      }
      throw error;
    }
    if (!Array.isArray(output) || typeof output[0] !== 'string') throw new PluginError({ plugin: this.name, version: this.version, hook: 'processEvent', message: 'the sandbox returned a malformed batch' });
    return { outcomes: JSON.parse(output[0]) as BatchOutcome[], output };
  }

  /** Runs `onEvent` for each event of a batch in one crossing; returns the failures. */
  async onEventBatch(eventsJson: string, eventCount = 1, depth = 0): Promise<OnEventFailure[]> {
    this.depths.push(depth);
    try {
      return JSON.parse((await this.invoke('onEvent', 'onEventBatch', [eventsJson], eventCount)) as string) as OnEventFailure[];
    } finally {
      this.depths.splice(this.depths.indexOf(depth), 1);
    }
  }

  /** Runs PostHog's `composeWebhook` for each event of a batch in one crossing (see webhooks.ts). */
  async composeWebhooks(eventsJson: string, eventCount = 1): Promise<ComposedWebhook[]> {
    return JSON.parse((await this.invoke('composeWebhook', 'composeWebhookBatch', [eventsJson], eventCount)) as string) as ComposedWebhook[];
  }

  /** Sends a request through this plugin's host fetch (the path plugins' own fetches take, with its policy). */
  async hostFetch(request: { url: string; method: string; headers: [string, string][]; body: string | null; bodyBase64: string | null }): Promise<{ status: number; statusText: string }> {
    return (await this.options.host.async('fetch', request)) as { status: number; statusText: string };
  }

  /**
   * Calls one hook with JSON arguments (before `meta`). Resolves `null` on success, or the error the
   * hook threw (`{ message, errorName }`) so the caller can tell `RetryError` apart.
   */
  async callHook(hook: HookName, args: unknown[] = []): Promise<{ message: string; errorName: string } | null> {
    const result = (await this.invoke(hook, 'callHook', [hook, JSON.stringify(args)])) as string;
    return JSON.parse(result) as { message: string; errorName: string } | null;
  }

  /** Disposes the isolate for good. */
  dispose(): void {
    this.disposed = true;
    if (this.isolate && !this.isolate.isDisposed) this.isolate.dispose();
    this.isolate = undefined;
    this.functions = undefined;
  }

  /** The isolate's heap statistics, or undefined when it is not running. */
  async heapStatistics(): Promise<ivm.HeapStatistics | undefined> {
    return this.isolate && !this.isolate.isDisposed ? this.isolate.getHeapStatistics() : undefined;
  }

  private async invoke(hook: HookName, fn: 'processBatch' | 'onEventBatch' | 'callHook' | 'composeWebhookBatch', args: (string | LineBatch)[], eventCount = 0): Promise<unknown> {
    if (this.disposed) throw new PluginError({ plugin: this.name, version: this.version, hook, code: 'ERR_PLUGIN_DISABLED', message: 'the plugin was unloaded' });
    if (!this.functions || !this.isolate || this.isolate.isDisposed) {
      const restarting = this.isolate !== undefined;
      this.isolate = undefined;
      this.functions = undefined;
      await this.start();
      if (restarting) await this.onRestart?.();
    }
    const isolate = this.isolate!;
    const reference = this.functions![fn];
    const timeout = this.timeoutMs + eventCount * this.perEventTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const wall = new Promise<never>((_, reject) => {
      // Never less than the CPU time the crossing was granted (a big batch on a busy machine).
      timer = setTimeout(() => reject(new Error(`Script execution timed out. (wall clock ${Math.max(this.wallTimeoutMs, timeout)} ms)`)), Math.max(this.wallTimeoutMs, timeout));
    });
    let result: unknown;
    try {
      result = await Promise.race([reference.apply(undefined, args, { timeout, arguments: { copy: true }, result: { promise: true, copy: true } }), wall]);
    } catch (error) {
      const failure = this.classify(error, hook, isolate, timeout);
      // Lines logged before the failure still reach the host, unless the isolate was thrown away.
      await this.drainBuffered(isolate).catch(() => {});
      throw failure;
    } finally {
      clearTimeout(timer);
    }
    // [result, buffered logs and metrics JSON or null] when the call buffered some or the result is a
    // batch (see the runner's withBuffered).
    if (!Array.isArray(result)) return result;
    const [value, buffered] = result as [unknown, unknown];
    if (typeof buffered === 'string') this.options.host.sync('buffered', JSON.parse(buffered));
    return value;
  }

  /**
   * Takes what the plugin buffered but did not hand over with a result (while loading, or before a
   * call failed): one crossing, skipped when the isolate flagged nothing pending.
   */
  private async drainBuffered(isolate: ivm.Isolate): Promise<void> {
    if (Atomics.load(new Int32Array(this.progress), 2) === 0 || isolate.isDisposed || this.isolate !== isolate || !this.functions) return;
    const text = (await this.functions.drain.apply(undefined, [], { timeout: this.timeoutMs })) as string | null;
    if (typeof text === 'string') this.options.host.sync('buffered', JSON.parse(text));
  }

  /** Maps an isolated-vm failure to a coded `PluginError`; timeouts and memory exhaustion dispose the isolate. */
  private classify(error: unknown, hook: HookName, isolate: ivm.Isolate, timeout = this.timeoutMs): PluginError {
    const message = error instanceof Error ? error.message : String(error);
    let code: 'ERR_PLUGIN_TIMEOUT' | 'ERR_PLUGIN_MEMORY' | 'ERR_PLUGIN_THREW' | 'ERR_PLUGIN_LOAD' = hook === 'load' ? 'ERR_PLUGIN_LOAD' : 'ERR_PLUGIN_THREW';
    let reason = message;
    if (ISOLATE_MEMORY_MESSAGE.test(message) || (isolate.isDisposed && !this.disposed && !TIMEOUT_MESSAGE.test(message))) {
      code = 'ERR_PLUGIN_MEMORY';
      reason = `exceeded its memory limit of ${this.memoryLimitMb} MB`;
    } else if (TIMEOUT_MESSAGE.test(message)) {
      code = 'ERR_PLUGIN_TIMEOUT';
      reason = message.includes('wall clock') ? `did not finish within ${Math.max(this.wallTimeoutMs, timeout)} ms` : `ran longer than ${timeout} ms (CPU)`;
    }
    if (code === 'ERR_PLUGIN_TIMEOUT' || code === 'ERR_PLUGIN_MEMORY') {
      // The isolate may be mid-computation or out of heap: throw it away; the next call makes a new one.
      this.restarts += 1;
      if (!isolate.isDisposed) isolate.dispose();
      if (this.isolate === isolate) this.functions = undefined;
    }
    return new PluginError({ plugin: this.name, version: this.version, hook, code, message: reason, cause: error });
  }
}
