import { ISOLATE_BUNDLE } from './isolate-bundle.generated.js';

/**
 * The script evaluated INSIDE each plugin's V8 isolate before the plugin's code: the bundle of
 * `isolate/*.ts` (built by scripts/build-isolate.mjs) inside a strict-mode function expression. Running
 * it gives that function; sandbox.ts calls it (see prelude-loader.ts) with the host bridges (isolated-vm
 * References), the plugin's identity and config as JSON, and the SharedArrayBuffer whose int32 [2]
 * flags buffered logs or metrics. It returns the internals the runner needs (see isolate/prelude.ts for
 * the security notes). Compiled once per process and then from V8's code cache, so a new isolate does
 * not parse the ~100 KB bundle again.
 */
export const PRELUDE_SCRIPT = `(function plugline_prelude(hostSync, hostAsync, init, pending) {\n'use strict';\n${ISOLATE_BUNDLE}\nreturn __pluglineIsolate.prelude(hostSync, hostAsync, init, pending);\n})`;

/**
 * The runner, evaluated after the plugin module: `$0` = the prelude's internals, `$1` = the SDK chain
 * module's namespace, `$2` = the plugin module's namespace, `$3` = the progress SharedArrayBuffer, `$4` =
 * the per-event bound of async hooks (harden.ts' makeEventBound) or undefined. It
 * returns the functions the host calls (see isolate/runner.ts), each taking and returning strings so
 * that one crossing carries a whole batch.
 */
export const RUNNER_SOURCE = `'use strict';\nreturn $0.runner($0, $1, $2, $3, $4);\n`;
