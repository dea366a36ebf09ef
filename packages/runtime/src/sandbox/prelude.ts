import { ISOLATE_BUNDLE } from './isolate-bundle.generated.js';

/**
 * The script evaluated INSIDE each plugin's V8 isolate before the plugin's code: the bundle of
 * `isolate/*.ts` (built by scripts/build-isolate.mjs), called with the closure's arguments. `$0`/`$1`
 * are the host bridges (isolated-vm References), `$2` the plugin's identity and config as JSON, `$3`
 * the SharedArrayBuffer whose int32 [2] flags buffered logs or metrics. It returns the internals the
 * runner needs (see isolate/prelude.ts for the security notes). Strict mode for the whole bundle.
 */
export const PRELUDE_SOURCE = `'use strict';\n${ISOLATE_BUNDLE}\nreturn __pluglineIsolate.prelude($0, $1, $2, $3);\n`;

/**
 * The runner, evaluated after the plugin module: `$0` = the prelude's internals, `$1` = the SDK chain
 * module's namespace, `$2` = the plugin module's namespace, `$3` = the progress SharedArrayBuffer. It
 * returns the functions the host calls (see isolate/runner.ts), each taking and returning strings so
 * that one crossing carries a whole batch.
 */
export const RUNNER_SOURCE = `'use strict';\nreturn $0.runner($0, $1, $2, $3);\n`;
