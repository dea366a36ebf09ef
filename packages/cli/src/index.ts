import type { QuickstartOptions, RunningQuickstart } from './quickstart.js';

export { type BundleResult, bundlePlugin, conventionalEntries, findEntry } from './bundle.js';
export { type CliConfig, configPath, normalizeRegistryUrl, readCliConfig, resolveRegistry, writeCliConfig } from './config.js';
export { type DevOptions, type DevResult, readEventsFile, runDev, sampleEvents } from './dev.js';
export { type InitOptions, type InitResult, initPlugin } from './init.js';
export { exitCodes, formatError } from './output.js';
export { type PackOptions, type PackResult, packPlugin, readManifest } from './pack.js';
export { createProgram, run } from './program.js';
export type { QuickstartOptions, RunningQuickstart } from './quickstart.js';
export { configRows, parseNameSpec } from './registry-commands.js';
export { applyConfigChanges, defaultRuntimeDir } from './runtime-commands.js';
export { createReproducibleTarball, FIXED_MTIME, integrityOf, type TarballFile, tarballFileName } from './tarball.js';

/**
 * The one-command quickstart: registry + official plugins + runtime with the default chain; see
 * `quickstart.ts`. Loaded on call, so importing `@plugline/cli` for `packPlugin` stays light.
 *
 * @example
 * ```ts
 * const running = await startQuickstart(); // prints the URLs and a curl; Ctrl-C stops
 * ```
 */
export async function startQuickstart(options?: QuickstartOptions): Promise<RunningQuickstart> {
  return (await import('./quickstart.js')).startQuickstart(options);
}
