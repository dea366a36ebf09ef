import { frozenRecord, jsonParse, jsonStringify, ReflectApply } from './intrinsics.js';

/**
 * The two host bridges as they arrive in the isolate: isolated-vm `Reference`s to host functions that
 * take `(op, payload JSON)` and answer a string. They live only in the prelude's closure (here, in a
 * {@link Bridge}); nothing reachable from the plugin's globals holds them.
 */
export interface HostReference {
  applySync(receiver: undefined, args: string[]): unknown;
  apply(receiver: undefined, args: string[], options?: object): Promise<unknown>;
}

/** The calls to the host the in-isolate code makes. Only strings cross: JSON in, JSON out. */
export interface Bridge {
  /** A synchronous host service (URL parsing, random bytes): the answer string as it came. */
  callSync(op: string, payload: unknown): string;
  /** An asynchronous host service (storage, cache, fetch...): the answer parsed, errors rethrown. */
  callAsync(op: string, payload: unknown): Promise<unknown>;
  /** An asynchronous host service, the answer as the raw string (or null when there is none). */
  callAsyncText(op: string, payloadJson: string): Promise<string | null>;
  /** Hands the buffered logs and metrics JSON to the host (the `buffered` sync service). */
  sendBuffered(text: string): void;
}

/** A host failure that crossed as "!{...}" (see the host's `hostErrorAnswer`). */
export interface HostFailure {
  name?: unknown;
  message?: unknown;
  code?: unknown;
}

/**
 * Called for each host failure before it is thrown, to build the Error (e.g. a node-fetch
 * `FetchError` for the fetch service). Default: an Error of this realm with the host's name and code.
 */
export function errorFromFailure(failure: HostFailure): Error {
  const error = new Error(String(failure.message)) as Error & { code?: unknown };
  if (typeof failure.name === 'string' && failure.name !== 'Error') error.name = failure.name;
  if (failure.code !== undefined) error.code = failure.code;
  return error;
}

/**
 * A failed host call answers "!{name, message, code}" (see the host's hostErrorAnswer): thrown here as
 * an Error of this realm, with the code the host saw (ECONNREFUSED, a SQLSTATE...).
 */
export function throwIfHostError(text: unknown, toError: (failure: HostFailure) => Error = errorFromFailure): unknown {
  if (typeof text !== 'string' || text.charCodeAt(0) !== 33) return text;
  throw toError(jsonParse(text.slice(1)) as HostFailure);
}

/**
 * Builds the bridge over the host references. The `applySync`/`apply` methods are captured now, and the
 * options object passed to `apply` has a null prototype and is frozen, so a plugin polluting
 * `Object.prototype` (e.g. with `reference: true`) cannot change how results cross the boundary.
 */
export function createBridge(hostSyncRef: HostReference, hostAsyncRef: HostReference): Bridge {
  const applySyncMethod = hostSyncRef.applySync;
  const applyMethod = hostAsyncRef.apply;
  const asyncOptions = frozenRecord({ result: frozenRecord({ promise: true }) });
  const callAsyncText = async (op: string, payloadJson: string): Promise<string | null> => {
    const text = await ReflectApply(applyMethod, hostAsyncRef, [undefined, [op, payloadJson], asyncOptions]);
    return typeof text === 'string' ? text : null;
  };
  return {
    callSync(op, payload) {
      return ReflectApply(applySyncMethod, hostSyncRef, [undefined, [op, jsonStringify(payload === undefined ? null : payload)]]) as string;
    },
    async callAsync(op, payload) {
      const text = await callAsyncText(op, jsonStringify(payload === undefined ? null : payload));
      return text === null ? undefined : jsonParse(throwIfHostError(text) as string);
    },
    callAsyncText,
    sendBuffered(text) {
      ReflectApply(applySyncMethod, hostSyncRef, [undefined, ['buffered', text]]);
    },
  };
}
