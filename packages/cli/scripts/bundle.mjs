#!/usr/bin/env node
// Bundles the `plugline` binary after tsc: dist/cli.js becomes a small entry that enables Node's compile
// cache and then imports dist/cli-program-<hash>.js, the program with what every command loads up front
// (commander, semver, the registry client, the SDK's errors), which imports dist/cli-installer-<hash>.js
// (@plugline/runtime/install with the SDK's validators, ajv and tar) when install, uninstall, list or
// config runs. A cold `plugline install` then reads 5 files instead of resolving and loading ~180
// modules (~50 ms). The heavy commands' modules (init, pack, dev, quickstart: esbuild, the registry
// server, the runtime) stay tsc's own files in dist/, imported when they run. The library entry
// (dist/index.js) is tsc's output and is not affected.
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
// Imported by program.ts with `await import('./x.js')` when their command runs: kept as separate files.
const lazyModules = /^\.\/(init|pack|dev|quickstart)\.js$/;
// Built-ins that a dependency requires up front but the install path never uses: loaded on first use.
// node:child_process (commander's executable subcommands) is ~37 internal modules.
const lazyBuiltins = new Set(['child_process']);

/**
 * The own properties of built-in `name` as a fresh process has them, `[key, isPlainValue]`: a lazy
 * getter (node:util's TextDecoder, node:fs's promises) turns into a plain value once read, which this
 * build process may well have done.
 */
function builtinProperties(name) {
  const script = `const m = require(${JSON.stringify(`node:${name}`)}); console.log(JSON.stringify(Object.getOwnPropertyNames(m).map((key) => [key, 'value' in Object.getOwnPropertyDescriptor(m, key)])))`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

/** The source (and loader) of the module standing for built-in `name` in the bundle. */
function builtinModule(name) {
  const id = JSON.stringify(`node:${name}`);
  const properties = builtinProperties(name);
  if (lazyBuiltins.has(name)) {
    // An object with a getter per export: the module loads when one is first read.
    const getters = properties.map(([key]) => `  get ${JSON.stringify(key)}() { return load()[${JSON.stringify(key)}]; },`);
    return { loader: 'js', contents: `let loaded;\nconst load = () => (loaded ??= process.getBuiltinModule(${id}));\nmodule.exports = {\n${getters.join('\n')}\n};` };
  }
  // An ES module: the built-in as default export and its plain (non-getter) properties as named
  // exports, bound once. A CommonJS-style shim would have every import copy all properties as getters.
  const names = properties.filter(([key, plain]) => plain && /^[A-Za-z_$][\w$]*$/.test(key) && key !== 'default').map(([key]) => key);
  return { loader: 'js', contents: `const m = process.getBuiltinModule(${id});\nexport default m;\nexport const { ${names.join(', ')} } = m;` };
}

// The chunks of the previous build (their names carry a content hash).
for (const file of readdirSync(new URL('dist/', `file://${root}`))) {
  if (/^cli-.+\.js(\.map)?$/.test(file)) rmSync(new URL(`dist/${file}`, `file://${root}`));
}

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node26',
  // The chunks (dist/cli-program-<hash>.js, ...) sit next to dist/cli.js, so `import.meta.url`-relative
  // paths (../package.json) stay what they are in tsc's output.
  chunkNames: 'cli-[name]-[hash]',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // For a dynamic `require()` in a CommonJS dependency (there is none today; literal requires of
  // built-ins go through the shims below).
  banner: { js: "import { createRequire as __pluglineCreateRequire } from 'node:module';\nconst require = __pluglineCreateRequire(import.meta.url);" },
  // Native or heavy packages are never bundled (none is on the startup path).
  external: ['esbuild', 'isolated-vm', 'pino'],
  plugins: [
    {
      // Node built-ins come from process.getBuiltinModule(), not ES imports: an ES import builds the
      // module's ESM facade, which reads every export (and so runs lazy getters such as node:util's and
      // node:crypto's webcrypto); ~13 ms for the ~16 built-ins of the install path.
      name: 'plugline-builtins',
      setup(build) {
        build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
          isBuiltin(args.path) ? { path: args.path.replace(/^node:/, ''), namespace: 'node-builtin' } : undefined,
        );
        build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => builtinModule(args.path));
      },
    },
    {
      name: 'plugline-lazy-commands',
      setup(build) {
        build.onResolve({ filter: lazyModules }, (args) => ({ path: args.path, external: true }));
      },
    },
  ],
});
// A warning here is a bug at run time, e.g. a namespace import reading a built-in's getter that the
// shims above do not export (it would be undefined): fail the build instead.
if (result.warnings.length > 0) throw new Error(`bundling dist/cli.js: ${result.warnings.length} warning(s), see above`);
chmodSync(new URL('dist/cli.js', `file://${root}`), 0o755);
