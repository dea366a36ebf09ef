import { readFileSync } from 'node:fs';

export * from './chain.js';
export * from './errors.js';
export * from './manifest.js';
export * from './plugin.js';

/**
 * The version of `@plugline/sdk` (read from its package.json). The runtime checks each plugin's
 * `manifest.sdk` range against it.
 *
 * @example
 * ```ts
 * semver.satisfies(SDK_VERSION, manifest.sdk);
 * ```
 */
export const SDK_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
