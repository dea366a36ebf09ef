import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as esbuild from 'esbuild';

/**
 * PostHog's VM ran a plugin with `module = { exports: {} }` and a separate `exports = {}` in scope, and
 * took its hooks from `exports`, then `exports.default`, then `module.exports`. A TypeScript plugin
 * mixing ESM `import`s (or `export interface`) with `module.exports = plugin` is an ES module to
 * esbuild, where `module` is an undefined global (it would fail at load with "module is not defined").
 * For PostHog plugins:
 * - the plugin's own ES module sources that use `module.exports` / `exports.x` get PostHog's two
 *   objects as imports from a virtual module (`plugline-posthog:cjs`);
 * - the bundle's entry is a virtual module exporting, as `default`, the plugin object merged from the
 *   ES exports (default object, then named) and PostHog's `exports`, `exports.default` and
 *   `module.exports` (earlier ones win, as in PostHog's lookup). Pure CommonJS files are wrapped by
 *   esbuild as usual and reach the entry as the module's default export.
 */
export const postHogCjsSpecifier = 'plugline-posthog:cjs';
const entrySpecifier = 'plugline-posthog:entry';

const cjsModuleSource = 'export const module = { exports: {} };\nexport const exports = {};\n';

function entrySource(entryFile: string): string {
  return `import * as esm from ${JSON.stringify(entryFile)};
import { module as cjsModule, exports as cjsExports } from ${JSON.stringify(postHogCjsSpecifier)};
const objectOr = (value) => (value !== null && (typeof value === 'object' || typeof value === 'function') ? value : {});
const named = {};
let esmDefault;
// Keys read dynamically: a plugin without a default export is fine (no static \`esm.default\`).
for (const key of Object.keys(esm)) {
  if (key === 'default') esmDefault = esm[key];
  else named[key] = esm[key];
}
// Lowest priority first: PostHog looked at exports, exports.default, module.exports; ES exports win.
const plugin = Object.assign({}, objectOr(cjsModule.exports), objectOr(cjsExports.default), objectOr(cjsExports), objectOr(esmDefault), named);
export default plugin;
`;
}

const esmSyntax = /^\s*(?:import\s*[\w*{'"]|export\s)/m;
const cjsExportsUse = /\bmodule\.exports\b|(?<![.\w$])exports\s*(?:\.|\[)/;

/** The esbuild plugin (and entry point) doing the above; `isOwnSource` tells the plugin's files from dependencies. */
export function postHogEntry(entryFile: string, isOwnSource: (file: string) => boolean): { entryPoint: string; plugin: esbuild.Plugin } {
  return {
    entryPoint: entrySpecifier,
    plugin: {
      name: 'plugline-posthog-entry',
      setup(build) {
        build.onResolve({ filter: /^plugline-posthog:(?:entry|cjs)$/ }, (args) => ({ path: args.path, namespace: 'plugline-posthog' }));
        build.onLoad({ filter: /.*/, namespace: 'plugline-posthog' }, (args) =>
          args.path === entrySpecifier
            ? { contents: entrySource(entryFile), loader: 'js', resolveDir: path.dirname(entryFile) }
            : { contents: cjsModuleSource, loader: 'js' },
        );
        build.onLoad({ filter: /\.(?:[cm]?[jt]s)$/ }, async (args) => {
          if (!isOwnSource(args.path)) return undefined;
          const source = await readFile(args.path, 'utf8');
          if (!esmSyntax.test(source) || !cjsExportsUse.test(source)) return undefined;
          const loader = /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js';
          return { contents: `import { module, exports } from ${JSON.stringify(postHogCjsSpecifier)};\n${source}`, loader };
        });
      },
    },
  };
}
