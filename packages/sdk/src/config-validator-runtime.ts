// What the standalone code of a config validator (see configValidatorSource) needs at run time, for a
// browser: its `require` calls answered from here. No Node APIs and no code generation.
import equalModule from 'ajv/dist/runtime/equal.js';
import ucs2lengthModule from 'ajv/dist/runtime/ucs2length.js';
import { formats } from './formats.js';
import { re2RegExp } from './schema-limits.js';

// A CommonJS module's `exports.default` (Node's interop gives the exports object, a bundler the default).
function defaultOf(module: unknown): unknown {
  return typeof module === 'function' ? module : (module as { default: unknown }).default;
}

const modules: Record<string, unknown> = {
  // The code calls `require("re2js").RE2JS.compile(pattern, "u")` (re2RegExp.code): the SDK's engine,
  // which ignores the flag RE2JS itself would refuse.
  re2js: { RE2JS: { compile: re2RegExp } },
  'ajv/dist/runtime/equal': { default: defaultOf(equalModule) },
  'ajv/dist/runtime/ucs2length': { default: defaultOf(ucs2lengthModule) },
};

/**
 * The `require` a config validator's standalone code calls (for RE2 patterns and ajv's small runtime
 * helpers); throws a plain Error for any other module, so a caller can fall back to server-side validation only.
 *
 * @example
 * ```ts
 * const factory = window.validators[id]; // function (require, formats) { ...standalone code... }
 * const validate = factory(configValidatorRequire, configValidatorFormats);
 * ```
 */
export function configValidatorRequire(name: string): unknown {
  const found = Object.hasOwn(modules, name) ? modules[name] : undefined;
  if (found === undefined) throw new Error(`a config validator needs the module ${JSON.stringify(name)}, which is not available here`);
  return found;
}

/** The string formats a config validator checks (`formats.email`, ...): the SDK's own {@link formats}. */
export const configValidatorFormats: Readonly<Record<string, unknown>> = formats;
