/**
 * The version of `@plugline/sdk`. The runtime checks each plugin's `manifest.sdk` range against it.
 * A literal (not read from package.json) so the SDK bundles into a bare V8 isolate; a test keeps it equal
 * to package.json, and `npm run version-packages` rewrites it after `changeset version`.
 *
 * @example
 * ```ts
 * semver.satisfies(SDK_VERSION, manifest.sdk);
 * ```
 */
export const SDK_VERSION = '0.1.0';
