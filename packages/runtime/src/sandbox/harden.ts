/**
 * Hardening of a plugin isolate's realm against memory that the V8 heap cap (isolated-vm's
 * `memoryLimit`) does not see, evaluated in the context BEFORE the prelude (see {@link hardenSource}):
 *
 * - `WebAssembly` is removed, unless the plugin was granted it (`allowWasm`). Then every memory
 *   (constructed, or declared by a module) must declare a maximum, and the maxima of all memories
 *   the isolate ever creates add up to at most `wasmMemoryBytes`; a module or memory past that is
 *   refused with a `RangeError` whose `code` is `ERR_QUOTA_EXCEEDED`.
 * - Resizable `ArrayBuffer`s and growable `SharedArrayBuffer`s (`{ maxByteLength }`) are not
 *   available: their reservations and growth escape the heap cap. Fixed-size buffers are counted by
 *   isolated-vm's allocator and stay available.
 *
 * {@link hardenRealm} is a self-contained function (no imports, nothing from this module's scope):
 * its source text runs inside the isolate, and the unit tests run it in a `node:vm` context.
 */
export interface HardenOptions {
  /** Leave `WebAssembly` in place (an operator grant), with bounded memories. */
  allowWasm: boolean;
  /** Sum of the maxima of every WebAssembly memory the isolate may create, bytes. */
  wasmMemoryBytes: number;
}

/** The WebAssembly page size. */
const WASM_PAGE = 65_536;

/** Default of {@link HardenOptions.wasmMemoryBytes}: 64 MiB (1,024 pages). */
export const defaultWasmMemoryBytes = 1024 * WASM_PAGE;

// The parts of the WebAssembly namespace used here (the project's `lib` has no WebAssembly types).
type Constructor = new (...args: unknown[]) => object;
interface WasmNamespace {
  Module: Constructor;
  Instance: Constructor;
  Memory: Constructor;
  compile?: unknown;
  instantiate?: unknown;
  compileStreaming?: unknown;
  instantiateStreaming?: unknown;
}

/** Hardens the realm whose global object is `global` (see the module comment). Idempotent enough to run once. */
export function hardenRealm(global: typeof globalThis, options: HardenOptions): void {
  const quotaError = (message: string) => {
    const error = new RangeError(message);
    (error as RangeError & { code: string }).code = 'ERR_QUOTA_EXCEEDED';
    return error;
  };
  const lockConstructor = (prototype: object, value: unknown) => {
    Object.defineProperty(prototype, 'constructor', { value, writable: false, enumerable: false, configurable: false });
  };
  const lockGlobal = (name: string, value: unknown) => {
    Object.defineProperty(global, name, { value, writable: false, enumerable: false, configurable: false });
  };

  // --- ArrayBuffer / SharedArrayBuffer without { maxByteLength }: only the length argument reaches
  // the real constructor, so an options getter cannot answer one thing to the check and another to V8.
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer'] as const) {
    const Original = global[name] as unknown as (new (length?: number, options?: unknown) => object) | undefined;
    if (typeof Original !== 'function') continue;
    const guarded = new Proxy(Original, {
      construct(target, args, newTarget) {
        const options = args[1];
        if (options !== undefined && options !== null && typeof options === 'object' && (options as { maxByteLength?: unknown }).maxByteLength !== undefined) {
          throw quotaError(`${name} with maxByteLength (resizable or growable buffers) is not available in the sandbox`);
        }
        return Reflect.construct(target, args.length > 0 ? [args[0]] : [], newTarget) as object;
      },
    });
    lockConstructor(Original.prototype, guarded);
    lockGlobal(name, guarded);
  }

  const wasm = (global as { WebAssembly?: WasmNamespace }).WebAssembly;
  if (!wasm) return;
  if (!options.allowWasm) {
    delete (global as { WebAssembly?: unknown }).WebAssembly;
    return;
  }

  // --- WebAssembly with a memory budget.
  const page = 65_536;
  const budgetPages = Math.floor(options.wasmMemoryBytes / page);
  let usedPages = 0;
  const charge = (pages: number, what: string) => {
    if (usedPages + pages > budgetPages) {
      throw quotaError(`${what} would bring the WebAssembly memory of this plugin to ${(usedPages + pages) * page} bytes (the limit is ${budgetPages * page})`);
    }
    usedPages += pages;
  };
  const bytesOf = (source: unknown): Uint8Array => {
    if (source instanceof Uint8Array) return source;
    if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    if (source instanceof global.ArrayBuffer || source instanceof global.SharedArrayBuffer) return new Uint8Array(source as ArrayBuffer);
    throw new TypeError('WebAssembly: the source must be a BufferSource');
  };
  // The memories a module declares (section 5), as maximum pages each; a memory without a maximum, a
  // 64-bit memory or a malformed section is refused (throws). Imported memories come from
  // `new WebAssembly.Memory` (charged there).
  const declaredPages = (bytes: Uint8Array): number => {
    let at = 8;
    const leb = (): number => {
      let result = 0;
      let shift = 0;
      for (;;) {
        if (at >= bytes.length) throw new TypeError('WebAssembly: truncated module');
        const byte = bytes[at++]!;
        result += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if ((byte & 0x80) === 0) return result;
        if (shift > 56) throw new TypeError('WebAssembly: malformed integer');
      }
    };
    let pages = 0;
    while (at < bytes.length) {
      const id = bytes[at++]!;
      const size = leb();
      const end = at + size;
      if (id === 5) {
        const count = leb();
        for (let i = 0; i < count; i++) {
          const flags = leb();
          leb();
          if ((flags & 1) === 0) throw quotaError('WebAssembly: a memory must declare a maximum size in the sandbox');
          if ((flags & ~3) !== 0) throw quotaError('WebAssembly: 64-bit memories are not available in the sandbox');
          pages += leb();
        }
      }
      at = end;
    }
    return pages;
  };
  const modulePages = new WeakMap<object, number>();
  const OriginalModule = wasm.Module;
  const OriginalInstance = wasm.Instance;
  const OriginalMemory = wasm.Memory;
  const checkedModule = (source: unknown) => {
    const bytes = bytesOf(source).slice();
    const pages = declaredPages(bytes);
    if (pages > budgetPages) throw quotaError(`WebAssembly: the module declares ${pages * page} bytes of memory (the limit is ${budgetPages * page})`);
    return { bytes, pages };
  };
  const Module = new Proxy(OriginalModule, {
    construct(target, args, newTarget) {
      const { bytes, pages } = checkedModule(args[0]);
      const module = Reflect.construct(target, [bytes], newTarget) as object;
      modulePages.set(module, pages);
      return module;
    },
  });
  const Instance = new Proxy(OriginalInstance, {
    construct(target, args, newTarget) {
      const module = args[0] as object;
      const pages = modulePages.get(module);
      if (pages === undefined) throw new TypeError('WebAssembly.Instance: the module was not compiled in this sandbox');
      charge(pages, 'this instance');
      return Reflect.construct(target, [module, args[1]], newTarget) as object;
    },
  });
  const Memory = new Proxy(OriginalMemory, {
    construct(target, args, newTarget) {
      const descriptor = (args[0] ?? {}) as { initial?: unknown; maximum?: unknown; shared?: unknown };
      const initial = Number(descriptor.initial);
      const maximum = descriptor.maximum === undefined ? initial : Number(descriptor.maximum);
      if (!Number.isInteger(initial) || !Number.isInteger(maximum) || initial < 0 || maximum < initial) throw new TypeError('WebAssembly.Memory: invalid initial or maximum');
      charge(maximum, 'this memory');
      return Reflect.construct(target, [{ initial, maximum, shared: descriptor.shared === true }], newTarget) as object;
    },
  });
  const compile = (source: unknown) => {
    try {
      return Promise.resolve(new Module(source));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  const instantiate = (source: unknown, imports?: unknown) => {
    try {
      if (source instanceof OriginalModule) return Promise.resolve(new Instance(source, imports));
      const module = new Module(source);
      return Promise.resolve({ module, instance: new Instance(module, imports) });
    } catch (error) {
      return Promise.reject(error);
    }
  };
  lockConstructor(OriginalModule.prototype, Module);
  lockConstructor(OriginalInstance.prototype, Instance);
  lockConstructor(OriginalMemory.prototype, Memory);
  for (const [name, value] of [
    ['Module', Module],
    ['Instance', Instance],
    ['Memory', Memory],
    ['compile', compile],
    ['instantiate', instantiate],
  ] as const) {
    Object.defineProperty(wasm, name, { value, writable: false, enumerable: false, configurable: false });
  }
  // Streaming needs a Response (there is none in the sandbox) and would bypass the checks.
  delete (wasm as { compileStreaming?: unknown }).compileStreaming;
  delete (wasm as { instantiateStreaming?: unknown }).instantiateStreaming;
  Object.freeze(wasm);
}

/** The script that hardens an isolate's context: evaluate it before the prelude. */
export function hardenSource(options: HardenOptions): string {
  return `(${hardenRealm.toString()})(globalThis, ${JSON.stringify(options)});`;
}

/**
 * The per-event bound of async `processEvent` calls, made inside the isolate (self-contained like
 * {@link hardenRealm}): `bound(output)` is the plugin's promise raced against a deadline, so an event
 * whose hook never settles fails alone (`TimeoutError`, kept as it was before that plugin) while the
 * rest of its batch goes on. The isolate has no timers: `sleep` is a host Reference whose promise
 * resolves after the given ms. Deadlines are shared by the events started in the same half of the
 * bound (one host call per `boundMs / 2` of a batch, not one per event), so each event gets between
 * `boundMs` and 1.5 x `boundMs`.
 */
export function makeEventBound(sleep: { apply: (...args: unknown[]) => Promise<unknown> }, boundMs: number): (output: unknown) => Promise<unknown> {
  const reflectApply = Reflect.apply;
  const apply = sleep.apply;
  const PromiseCtor = Promise;
  const race = Promise.race;
  const now = Date.now;
  const ErrorCtor = Error;
  const options = Object.freeze(Object.assign(Object.create(null), { result: Object.freeze(Object.assign(Object.create(null), { promise: true })) }));
  let slotStart = Number.NEGATIVE_INFINITY;
  let deadline: Promise<never> | undefined;
  return (output: unknown) => {
    const at = reflectApply(now, Date, []) as number;
    if (deadline === undefined || at - slotStart >= boundMs / 2) {
      slotStart = at;
      deadline = (reflectApply(apply, sleep, [undefined, [Math.ceil(boundMs * 1.5)], options]) as Promise<unknown>).then(() => {
        const error = new ErrorCtor(`processEvent did not settle within ${boundMs} ms`);
        error.name = 'PluglineEventTimeout';
        throw error;
      });
      deadline.catch(() => {});
    }
    return reflectApply(race, PromiseCtor, [[output, deadline]]) as Promise<unknown>;
  };
}

/** The script that makes {@link makeEventBound} in an isolate: `$0` the sleep Reference, `$1` the bound in ms. */
export const EVENT_BOUND_SOURCE = `'use strict'; return (${makeEventBound.toString()})($0, $1);`;
