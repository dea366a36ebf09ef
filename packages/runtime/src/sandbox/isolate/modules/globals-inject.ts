// Injected into the library modules at build (esbuild `inject`): free references to `process` and
// `queueMicrotask` in the bundled libraries bind to these instead of globals the isolate lacks.
import processShim from './process-shim.js';

export const process = processShim;
const resolved = Promise.resolve();
export function queueMicrotask(callback: () => void): void {
  resolved.then(callback);
}
