import { readFileSync } from 'node:fs';

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
