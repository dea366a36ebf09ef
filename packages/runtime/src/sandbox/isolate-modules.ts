import type ivm from 'isolated-vm';
import { ISOLATE_MODULES } from './isolate-bundle.generated.js';

/** The prefix of the library modules' specifiers: `import crypto from 'plugline:crypto'`. */
export const ISOLATE_MODULE_PREFIX = 'plugline:';

/**
 * The library modules a plugin may import inside its isolate (`plugline:<name>`), implemented in
 * `isolate/modules/*.ts` and bundled at build: Node-compatible `buffer`, `crypto`, `events`,
 * `generic-pool`, `pg` (over the `postgres` host service), `stream`, `url`, `zlib`. `plugline pack`
 * maps PostHog plugins' imports of these names to them.
 */
export const ISOLATE_MODULE_NAMES: readonly string[] = Object.keys(ISOLATE_MODULES).sort();

// V8 code cache per library module, shared by every isolate of the process.
const moduleCodeCache = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

/**
 * The module resolver of one isolate's plugin: `plugline:<name>` is compiled (once per isolate) from
 * {@link ISOLATE_MODULES}; any other import is refused. The modules are evaluated with the plugin's
 * module, before its code runs.
 */
export function createModuleResolver(isolate: ivm.Isolate, context: ivm.Context) {
  const compiled = new Map<string, Promise<ivm.Module>>();
  const resolve = (specifier: string): Promise<ivm.Module> => {
    const name = specifier.startsWith(ISOLATE_MODULE_PREFIX) ? specifier.slice(ISOLATE_MODULE_PREFIX.length) : undefined;
    const source = name === undefined ? undefined : ISOLATE_MODULES[name];
    if (name === undefined || source === undefined) {
      return Promise.reject(new Error(`Cannot import '${specifier}': plugins must be one self-contained bundle${name === undefined ? '' : ` (the sandbox provides ${ISOLATE_MODULE_NAMES.map((n) => ISOLATE_MODULE_PREFIX + n).join(', ')})`}`));
    }
    let module = compiled.get(name);
    if (!module) {
      module = (async () => {
        const cached = moduleCodeCache.get(name);
        const filename = `${ISOLATE_MODULE_PREFIX}${name}`;
        const created = await isolate.compileModule(source, cached ? { filename, cachedData: cached } : { filename, produceCachedData: true });
        const produced = (created as unknown as { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData;
        if (!cached && produced) moduleCodeCache.set(name, produced);
        await created.instantiate(context, resolve);
        return created;
      })();
      compiled.set(name, module);
    }
    return module;
  };
  return resolve;
}
