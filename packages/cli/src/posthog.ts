import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { type PluginManifest, PluglineError, type PostHogManifest, convertPostHogManifest } from '@plugline/sdk';
import type * as esbuild from 'esbuild';
import semver from 'semver';

/**
 * Where a packed PostHog plugin keeps its original `plugin.json` in the tarball. The tarball's own
 * `plugin.json` is the converted Plugline manifest (which also carries the original under `posthog`).
 */
export const postHogOriginalFile = 'posthog.plugin.json';

/** The bundle's path inside a packed PostHog plugin (never the source file, which may be `index.js`). */
export const postHogBundlePath = 'dist/index.js';

/**
 * The library modules the runtime's isolate provides (`plugline:<name>`, see @plugline/runtime's
 * `ISOLATE_MODULE_NAMES`): a PostHog plugin's import of one of these names, by itself or by one of its
 * dependencies, is bundled as a re-export of the isolate's module, which the sandbox links at load.
 */
export const isolateModules = ['aws-sdk', 'buffer', 'crypto', 'events', 'generic-pool', 'jsonwebtoken', 'pg', 'stream', 'url', 'zlib'] as const;

/** The specifier prefix of the isolate's library modules (kept external in the bundle). */
export const isolateModulePrefix = 'plugline:';

// What `@posthog/plugin-scaffold` is at run time: only RetryError is a value (the rest is types), and
// the runtime provides it as a global.
const shims: Record<string, string> = {
  '@posthog/plugin-scaffold': 'export const RetryError = globalThis.RetryError;\n',
  // PostHog let plugins import node-fetch; the isolate's global fetch is the same API, and rejects with
  // node-fetch's FetchError (kept on the prelude's internal object, see the runtime's isolate/internal.ts).
  'node-fetch':
    "const fetch = globalThis.fetch;\nexport default fetch;\nexport const Headers = globalThis.Headers;\nexport const FetchError = globalThis[Symbol.for('plugline.internal')].FetchError;\n",
  ...Object.fromEntries(isolateModules.map((name) => [name, `export * from '${isolateModulePrefix}${name}';\nexport { default } from '${isolateModulePrefix}${name}';\n`])),
};

// Libraries PostHog provided that need sockets, files or Node internals and have no isolate version.
const unavailable = new Map([
  ['@google-cloud/bigquery', 'Google Cloud clients need Node sockets and files'],
  ['@google-cloud/pubsub', 'Google Cloud clients need Node sockets and files'],
  ['@google-cloud/storage', 'Google Cloud clients need Node sockets and files'],
  ['snowflake-sdk', 'the Snowflake driver needs Node sockets and files'],
  ['ua-parser-js-node', 'it needs Node'],
]);
const builtins = new Set(builtinModules);

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function cannotImport(specifier: string, why: string): esbuild.OnResolveResult {
  return { errors: [{ text: `Cannot import '${specifier}'! This package is not provided by Plugline's PostHog compatibility: ${why}` }] };
}

/**
 * The esbuild plugin for PostHog plugins: `@posthog/plugin-scaffold` and `node-fetch` become tiny
 * shims over the isolate's globals, the {@link isolateModules} (`crypto`, `zlib`, `pg`, ...) re-exports
 * of the isolate's `plugline:<name>` modules; other Node built-ins, PostHog's libraries with no isolate
 * version (`aws-sdk`, `@google-cloud/*`, `snowflake-sdk`) and packages that are not installed fail with
 * PostHog's message style, naming the import.
 */
export function postHogImports(dir: string): esbuild.Plugin {
  return {
    name: 'plugline-posthog',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if ((args.pluginData as { posthog?: boolean } | undefined)?.posthog) return undefined;
        const specifier = args.path.startsWith('node:') ? args.path.slice(5) : args.path;
        if (shims[specifier] !== undefined) return { path: specifier, namespace: 'posthog-shim' };
        if (specifier.startsWith(isolateModulePrefix)) return { path: args.path, external: true };
        // Only the plugin's own imports are judged here; its dependencies follow the CLI's usual rules.
        if (args.importer && path.relative(dir, args.importer).split(path.sep).includes('node_modules')) return undefined;
        const name = packageName(specifier);
        if (args.path.startsWith('node:') || builtins.has(name)) {
          return cannotImport(args.path, 'the sandbox has no Node built-ins (use fetch, meta.storage, meta.cache)');
        }
        const why = unavailable.get(name);
        if (why !== undefined) return cannotImport(args.path, why);
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { posthog: true } });
        if (resolved.errors.length > 0) return cannotImport(args.path, `it is not installed in ${dir} (npm install it, and it must run without Node APIs)`);
        return resolved;
      });
      build.onLoad({ filter: /.*/, namespace: 'posthog-shim' }, (args) => ({ contents: shims[args.path] ?? '', loader: 'js' }));
    },
  };
}

/** The version to give a PostHog plugin (its `plugin.json` has none): `--version`, else package.json's. */
export function postHogVersion(dir: string, version: string | undefined): string {
  let candidate = version;
  let source = '--plugin-version';
  if (candidate === undefined) {
    const packageJson = path.join(dir, 'package.json');
    if (existsSync(packageJson)) {
      try {
        const parsed = JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown };
        if (typeof parsed.version === 'string') {
          candidate = parsed.version;
          source = 'package.json';
        }
      } catch {
        // An unreadable package.json gives no version; the error below says what to do.
      }
    }
  }
  if (candidate === undefined) {
    throw new PluglineError('ERR_VERSION_INVALID', `${dir}/plugin.json is in PostHog's format, which has no version: pass --plugin-version <semver> (packPlugin's \`version\` option) or set "version" in package.json`);
  }
  if (!semver.valid(candidate)) throw new PluglineError('ERR_VERSION_INVALID', `the version from ${source}, "${candidate}", is not a valid semver version`);
  return candidate;
}

/**
 * Converts a PostHog `plugin.json` for packing (with the SDK's {@link convertPostHogManifest}), naming
 * the bundle {@link postHogBundlePath}.
 *
 * @throws PluglineError ERR_MANIFEST_INVALID with every problem in `details`.
 */
export function convertForPack(original: PostHogManifest, version: string): PluginManifest {
  const { value, errors } = convertPostHogManifest(original, { version, main: postHogBundlePath });
  if (!value) throw new PluglineError('ERR_MANIFEST_INVALID', `PostHog plugin.json cannot be converted: ${errors.join('; ')}`, { details: errors });
  return value;
}
