/**
 * The code evaluated INSIDE each plugin's V8 isolate, before the plugin's code (bundled at build into
 * one script, see scripts/build-isolate.mjs, and run by sandbox.ts as `PRELUDE_SCRIPT`, see prelude-loader.ts). A bare
 * isolate has only the ECMAScript built-ins, so this defines the small, documented set of web-style
 * globals plugins may use and builds the `meta` object whose services are bridged to the host.
 *
 * Security notes (why the code looks the way it does):
 * - The two host bridges arrive as isolated-vm `Reference`s (`$0`/`$1`). They live only in this
 *   closure (bridge.ts); nothing reachable from the plugin's globals holds them.
 * - Everything the bridge uses (`Reflect.apply`, the `applySync`/`apply` methods, JSON) is captured when
 *   the bundle is evaluated (intrinsics.ts), so a plugin that later overwrites built-ins cannot
 *   intercept a bridge call.
 * - The options object passed to `apply` has a null prototype and is frozen, so a plugin polluting
 *   `Object.prototype` (e.g. with `reference: true`) cannot change how results cross the boundary.
 * - Only strings cross the boundary (JSON in, JSON out), never objects or references.
 * - `Error.prepareStackTrace` is locked: stack-trace hooks hand out call-site objects.
 * - The bundle runs in strict mode (the script starts with 'use strict').
 *
 * `$2` is the plugin's identity and config as JSON. `$3` is a SharedArrayBuffer shared with the host:
 * int32 [2] is set to 1 while logs or metrics wait in this isolate's buffer. The closure returns the
 * internals the runner needs (meta, clone, takeBuffered, runner); the host keeps that only as a
 * Reference and passes it to the runner script.
 */
import { createBridge, type HostReference } from './bridge.js';
import { createBuffered } from './buffered.js';
import { cloneJson } from './clone.js';
import { atob, btoa, DOMException, TextDecoder, TextEncoder } from './encoding.js';
import { createFetch, Headers } from './fetch.js';
import { FetchError } from './fetch-error.js';
import { createLocate } from './geoip.js';
import { createConsole, RetryError } from './globals-misc.js';
import { INTERNAL_KEY, type IsolateInternal } from './internal.js';
import { defineLazyGlobal } from './lazy-global.js';
import { defineGlobal, defineProperty, freeze, frozenRecord, jsonParse } from './intrinsics.js';
import { createMeta, type Meta, type PreludeInit } from './meta.js';
import { createRandom } from './random.js';
import { createRunner } from './runner.js';
import { bindUrl, URL, URLSearchParams } from './url.js';

/** What the prelude hands the host (as a Reference) for the runner. */
export interface PreludeInternals {
  meta: Meta;
  clone: (value: unknown) => unknown;
  takeBuffered: () => string | null;
  name: string;
  version: string;
  /** Builds the runner over the plugin's module namespace (see runner.ts). */
  runner: typeof createRunner;
}

// esbuild bundles `require('buffer')` as a lazily evaluated module (the package is CommonJS).
declare const require: (id: 'buffer') => unknown;

export function prelude(hostSyncRef: HostReference, hostAsyncRef: HostReference, initJson: string, pendingBuffer: SharedArrayBuffer): PreludeInternals {
  const init = jsonParse(initJson) as PreludeInit;
  const bridge = createBridge(hostSyncRef, hostAsyncRef);
  const buffered = createBuffered(new Int32Array(pendingBuffer), bridge.sendBuffered);

  // Stack-trace hooks hand out call-site objects (getThis/getFunction): plugins may not install one.
  defineProperty(Error, 'prepareStackTrace', { value: undefined, writable: false, configurable: false, enumerable: false });

  defineGlobal('console', createConsole(buffered));
  defineGlobal('RetryError', RetryError);
  defineGlobal('DOMException', DOMException);
  defineGlobal('btoa', btoa);
  defineGlobal('atob', atob);
  defineGlobal('TextEncoder', TextEncoder);
  defineGlobal('TextDecoder', TextDecoder);
  bindUrl(bridge.callSync);
  defineGlobal('URL', URL);
  defineGlobal('URLSearchParams', URLSearchParams);
  const { getRandomValues, randomUUID } = createRandom(bridge.callSync);
  defineGlobal('crypto', freeze({ getRandomValues, randomUUID }));
  defineGlobal('structuredClone', (value: unknown) => (value === undefined ? undefined : cloneJson(value)));
  defineGlobal('Headers', Headers);
  const fetch = createFetch(bridge.callAsyncText, URL);
  defineGlobal('fetch', fetch);
  // posthog.capture: a new event into the runtime's own capture path (fire and forget).
  defineGlobal(
    'posthog',
    freeze({
      capture: async (event: unknown, properties: unknown = {}) => {
        await bridge.callAsync('capture', [{ event: String(event), properties: cloneJson(properties) ?? {}, plugin: init.name }]);
      },
    }),
  );

  // Node's Buffer (the npm `buffer` package), a global in PostHog's VM. Its module is evaluated on the
  // first read of the global (a few ms per isolate otherwise); assigning the global replaces it.
  defineLazyGlobal('Buffer', () => (require('buffer') as typeof import('buffer')).Buffer);

  const meta = createMeta(init, bridge, buffered, fetch, createLocate(bridge));
  // The library modules' channel (see internal.ts): only what this plugin can reach anyway.
  const postgres = meta.postgres as { query: IsolateInternal['postgresQuery'] } | undefined;
  const internal: IsolateInternal = frozenRecord({ FetchError, postgresQuery: postgres?.query });
  defineProperty(globalThis, INTERNAL_KEY, { value: internal, writable: false, configurable: false, enumerable: false });
  return { meta, clone: cloneJson, takeBuffered: buffered.take, name: init.name, version: init.version, runner: createRunner };
}
