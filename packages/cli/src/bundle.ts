import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { PluglineError } from '@plugline/sdk';
import * as esbuild from 'esbuild';
import { isolateModulePrefix, postHogImports } from './posthog.js';
import { postHogEntry } from './posthog-entry.js';

/** Where `pack` and `dev` look for a plugin's source entry, in order, when no `--entry` is given. */
export const conventionalEntries = ['src/index.ts', 'src/index.js', 'index.ts', 'index.js'] as const;

const nodeBuiltins = new Set(builtinModules);

function isNodeBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  return nodeBuiltins.has(specifier) || nodeBuiltins.has(specifier.split('/')[0] ?? '');
}

/**
 * Finds the source entry of a plugin: `entry` when given (relative to `dir`), else the first of
 * {@link conventionalEntries} that exists.
 */
export function findEntry(dir: string, entry?: string): string {
  if (entry) {
    const absolute = path.resolve(dir, entry);
    if (!existsSync(absolute)) throw new PluglineError('ERR_PLUGIN_LOAD', `entry ${entry} does not exist in ${dir}`);
    return absolute;
  }
  for (const candidate of conventionalEntries) {
    const absolute = path.join(dir, candidate);
    if (existsSync(absolute)) return absolute;
  }
  throw new PluglineError('ERR_PLUGIN_LOAD', `no source entry in ${dir}: looked for ${conventionalEntries.join(', ')} (or pass --entry)`);
}

/** What {@link bundlePlugin} produced. */
export interface BundleResult {
  /** The single ESM file, as text. */
  code: string;
  /** Source files that went into the bundle, relative to the plugin folder. */
  inputs: string[];
  /** The version of `@plugline/sdk` bundled in, when the plugin uses it. */
  sdkVersion?: string;
  /** The isolate's library modules the bundle imports (`plugline:crypto`, ...), sorted. */
  isolateImports: string[];
  /** esbuild's warnings that do not break the bundle, formatted (`file:line:column: text [id]`). */
  warnings: string[];
}

/**
 * esbuild warnings that mean the bundle would not work in the sandbox: a global `module`/`exports` in
 * an ES module (undefined at load), an import of a name the module does not export (undefined), a
 * `require()`/`import()` esbuild could not resolve statically (the sandbox has neither at run time),
 * calling or constructing a namespace object.
 */
export const fatalWarnings: ReadonlySet<string> = new Set([
  'commonjs-variable-in-esm',
  'import-is-undefined',
  'unsupported-require-call',
  'unsupported-dynamic-import',
  'call-import-namespace',
  'new-import-namespace',
]);

/**
 * Bundles a plugin's source into ONE self-contained ESM file that runs in a bare V8 isolate: platform
 * `browser` (browser builds of dependencies), target es2022, every dependency inlined (the SDK too).
 * The isolate has no Node APIs, so an import of a Node built-in (`fs`, `net`, `node:*`) that survives tree shaking fails the bundle with
 * ERR_PLUGIN_LOAD naming the import and the file that made it, as does any import that cannot be resolved.
 *
 * @example
 * ```ts
 * const { code } = await bundlePlugin('/path/to/plugin', '/path/to/plugin/src/index.ts');
 * ```
 */
export async function bundlePlugin(dir: string, entryFile: string, options: { posthog?: boolean } = {}): Promise<BundleResult> {
  const sandboxRules: esbuild.Plugin = {
    name: 'plugline-sandbox',
    setup(build) {
      // The plugin's own code may not import a built-in at all. In dependencies, built-ins stay external
      // for now: unused ones vanish with tree shaking, the ones still used are reported after the build.
      build.onResolve({ filter: /.*/ }, (args) => {
        if (!isNodeBuiltin(args.path)) return undefined;
        if (isOwnSource(dir, args.importer)) return { errors: [{ text: `"${args.path}" is a ${builtinAdvice}` }] };
        return { path: args.path, external: true, sideEffects: false };
      });
      // The SDK's modules are pure (the package also says `sideEffects: false`), so tree shaking drops
      // what the plugin does not use, such as ajv behind the manifest validator.
      build.onResolve({ filter: /^@plugline\/sdk(?:\/.*)?$/ }, async (args) => {
        if ((args.pluginData as { sdk?: boolean } | undefined)?.sdk) return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { sdk: true } });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        return { ...resolved, sideEffects: false };
      });
    },
  };
  const entry = options.posthog ? postHogEntry(entryFile, (file) => isOwnSource(dir, file)) : undefined;
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      absWorkingDir: dir,
      entryPoints: [entry ? entry.entryPoint : entryFile],
      bundle: true,
      write: false,
      metafile: true,
      // Browser builds of dependencies avoid Node APIs, which the isolate does not have: platform
      // `browser` picks the `browser` entry points and conditions and also applies the file-level
      // `browser` maps in package.json (the AWS SDK swaps its Node runtime config for the browser one).
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      mainFields: ['browser', 'module', 'main'],
      conditions: ['browser'],
      resolveExtensions: ['.ts', '.mts', '.js', '.mjs', '.json'],
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
      // PostHog plugins: scaffold/node-fetch/url shims and PostHog-style import errors; their
      // `import { Plugin } from '@posthog/plugin-scaffold'` (no `import type`) must be elided.
      plugins: entry ? [entry.plugin, postHogImports(dir), sandboxRules] : [sandboxRules],
      ...(options.posthog ? { tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: false } } } : {}),
    });
  } catch (error) {
    const failure = error as esbuild.BuildFailure;
    const problems = (failure.errors ?? []).map((message) => describeMessage(message));
    throw new PluglineError(
      'ERR_PLUGIN_LOAD',
      `cannot bundle ${path.relative(dir, entryFile)}: ${problems.length > 0 ? problems.join('; ') : (error as Error).message}`,
      { details: problems, cause: error },
    );
  }
  const broken = result.warnings.filter((warning) => fatalWarnings.has(warning.id));
  if (broken.length > 0) {
    const problems = broken.map((message) => `${describeMessage(message)} [${message.id}]`);
    throw new PluglineError(
      'ERR_PLUGIN_LOAD',
      `cannot bundle ${path.relative(dir, entryFile)}: the bundle would break in the sandbox: ${problems.join('; ')}`,
      { details: problems },
    );
  }
  const warnings = result.warnings.map((message) => `${describeMessage(message)} [${message.id}]`);
  const output = Object.values(result.metafile.outputs)[0];
  // The isolate's library modules (`plugline:crypto`...) are linked by the sandbox: the only externals allowed.
  const forbidden = (output?.imports ?? []).filter((imported) => imported.external && !imported.path.startsWith(isolateModulePrefix));
  if (forbidden.length > 0) {
    const problems = forbidden.map((imported) => {
      const importer = Object.entries(result.metafile.inputs).find(([, input]) => input.imports.some((candidate) => candidate.path === imported.path))?.[0];
      const label = importer ? packageLabel(path.resolve(dir, importer)) : 'a dependency';
      return `"${imported.path}" imported by ${label} is a ${builtinAdvice}`;
    });
    throw new PluglineError('ERR_PLUGIN_LOAD', `cannot bundle ${path.relative(dir, entryFile)}: ${problems.join('; ')}`, { details: problems });
  }
  const code = portableModuleComments(dir, result.outputFiles[0]?.text ?? '', Object.keys(result.metafile.inputs));
  const inputs = Object.keys(output?.inputs ?? {})
    .filter((input) => !input.startsWith('plugline-posthog:'))
    .sort();
  const sdkVersion = bundledPackageVersion(dir, inputs, '@plugline/sdk');
  const isolateImports = [...new Set((output?.imports ?? []).filter((imported) => imported.path.startsWith(isolateModulePrefix)).map((imported) => imported.path))].sort();
  return { code, inputs, isolateImports, warnings, ...(sdkVersion ? { sdkVersion } : {}) };
}

/** The version of a package some of whose files are in the bundle (read from its package.json). */
function bundledPackageVersion(dir: string, inputs: readonly string[], name: string): string | undefined {
  for (const input of inputs) {
    const root = packageRoot(path.resolve(dir, input));
    if (root?.name === name) return root.version;
  }
  return undefined;
}

function packageRoot(file: string): { name: string; version?: string; dir: string } | undefined {
  let current = path.dirname(file);
  while (path.dirname(current) !== current) {
    const manifest = path.join(current, 'package.json');
    if (existsSync(manifest)) {
      try {
        const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown; version?: unknown };
        if (typeof parsed.name === 'string') {
          return { name: parsed.name, dir: current, ...(typeof parsed.version === 'string' ? { version: parsed.version } : {}) };
        }
      } catch {
        // An unreadable package.json: keep looking further up.
      }
    }
    current = path.dirname(current);
  }
  return undefined;
}

/**
 * esbuild heads each module in the bundle with a `// path` comment relative to the plugin folder, so a
 * dependency outside it (a workspace SDK, a hoisted node_modules) would make the bytes depend on where
 * the folder sits. Those comments are rewritten to `package-name/path/in/package`.
 */
function portableModuleComments(dir: string, code: string, inputs: readonly string[]): string {
  const labels = new Map<string, string>();
  for (const input of inputs) {
    if (!input.startsWith('../') && !input.includes('node_modules/')) continue;
    labels.set(`// ${input}`, `// ${packageLabel(path.resolve(dir, input))}`);
  }
  if (labels.size === 0) return code;
  return code.replace(/^\/\/ .+$/gm, (line) => labels.get(line) ?? line);
}

function packageLabel(file: string): string {
  const root = packageRoot(file);
  return root ? `${root.name}/${path.relative(root.dir, file).split(path.sep).join('/')}` : path.basename(file);
}

const builtinAdvice = 'Node built-in, which the plugin sandbox does not have (use meta.fetch, meta.storage or meta.cache instead)';

/** Is a file the plugin's own source (inside its folder, not in node_modules)? */
function isOwnSource(dir: string, file: string): boolean {
  if (!file) return true;
  const relative = path.relative(dir, file);
  return !relative.startsWith('..') && !path.isAbsolute(relative) && !relative.split(path.sep).includes('node_modules');
}

function describeMessage(message: esbuild.Message): string {
  const where = message.location ? `${message.location.file}:${message.location.line}:${message.location.column + 1}: ` : '';
  return `${where}${message.text}`;
}
