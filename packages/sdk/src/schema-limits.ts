import { RE2JS } from 're2js';

/**
 * Bounds on a plugin's config schema, checked before ajv sees it (at publish, install and load), so
 * compiling and validating an untrusted schema stays cheap (about 100 ms for the largest schema they
 * allow, on a loaded 2-core machine): a schema past any of them is refused.
 *
 * @example
 * ```ts
 * if (Object.keys(schema.properties ?? {}).length > schemaLimits.maxProperties) console.warn('too many config fields');
 * ```
 */
export const schemaLimits = {
  /** Characters of the schema's JSON. */
  maxChars: 64 * 1024,
  /** Nesting of objects and arrays in the schema. */
  maxDepth: 32,
  /** Objects and arrays in the schema (each subschema is at least one): what ajv's compile time follows. */
  maxNodes: 500,
  /** Keys of every `properties` / `patternProperties` / `$defs` object in the schema, added up. */
  maxProperties: 100,
  /** Regular expressions (`pattern` values and `patternProperties` keys). */
  maxPatterns: 20,
  /** Characters of one `pattern` (or `patternProperties` key). */
  maxPatternLength: 1000,
} as const;

/**
 * {@link schemaLimits} as plain numbers, to pass other bounds to {@link schemaLimitErrors}.
 *
 * @example
 * ```ts
 * const strict: Partial<SchemaLimits> = { maxProperties: 20 };
 * ```
 */
export type SchemaLimits = { [K in keyof typeof schemaLimits]: number };

const PROPERTY_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * The limits a schema exceeds (empty when none), as `path: reason` strings. Walks the schema without
 * recursion, so a schema nested 100,000 levels deep is refused rather than overflowing the stack.
 *
 * @example
 * ```ts
 * schemaLimitErrors({ type: 'object', properties: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`p${i}`, {}])) });
 * // ['(root): has 5000 properties (the limit is 100)', '(root): has 5002 objects and arrays (the limit is 500)']
 * ```
 */
export function schemaLimitErrors(schema: unknown, limits: Partial<SchemaLimits> = {}): string[] {
  const max = { ...schemaLimits, ...limits };
  const errors: string[] = [];
  let properties = 0;
  let nodes = 0;
  let patterns = 0;
  let depthReported = false;
  const stack: { value: unknown; depth: number }[] = [{ value: schema, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max.maxDepth) {
      if (!depthReported) errors.push(`(root): is nested deeper than ${max.maxDepth} levels`);
      depthReported = true;
      continue;
    }
    nodes += 1;
    if (Array.isArray(value)) {
      for (const item of value) stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    for (const [key, child] of Object.entries(value)) {
      if (PROPERTY_MAPS.has(key) && typeof child === 'object' && child !== null && !Array.isArray(child)) {
        properties += Object.keys(child).length;
        if (key === 'patternProperties') patterns += Object.keys(child).length;
      }
      if (key === 'pattern' && typeof child === 'string') patterns += 1;
      stack.push({ value: child, depth: depth + 1 });
    }
  }
  if (properties > max.maxProperties) errors.push(`(root): has ${properties} properties (the limit is ${max.maxProperties})`);
  if (nodes > max.maxNodes) errors.push(`(root): has ${nodes} objects and arrays (the limit is ${max.maxNodes})`);
  if (patterns > max.maxPatterns) errors.push(`(root): has ${patterns} patterns (the limit is ${max.maxPatterns})`);
  if (!depthReported) {
    const chars = (JSON.stringify(schema) ?? '').length;
    if (chars > max.maxChars) errors.push(`(root): is ${chars} characters of JSON (the limit is ${max.maxChars})`);
  }
  return errors;
}

/**
 * Every regular expression of a schema (`pattern` values and `patternProperties` keys) that the
 * linear-time engine cannot run (backreferences, lookaround) or that is too long, as `path: reason`.
 * Call it only on a schema {@link schemaLimitErrors} accepted (it recurses).
 *
 * @example
 * ```ts
 * unsupportedPatternErrors({ type: 'object', properties: { a: { type: 'string', pattern: '(a)\\1' } } });
 * // ['properties/a/pattern: "(a)\\1" cannot run in linear time (RE2): invalid escape sequence: `\\1`']
 * ```
 */
export function unsupportedPatternErrors(schema: unknown, path = ''): string[] {
  const errors: string[] = [];
  if (typeof schema !== 'object' || schema === null) return errors;
  if (Array.isArray(schema)) {
    schema.forEach((item, index) => {
      errors.push(...unsupportedPatternErrors(item, `${path}/${index}`));
    });
    return errors;
  }
  for (const [key, child] of Object.entries(schema)) {
    const at = `${path}/${key}`;
    if (key === 'pattern' && typeof child === 'string') {
      const reason = patternProblem(child);
      if (reason) errors.push(`${at.slice(1)}: ${JSON.stringify(child)} ${reason}`);
    } else if (key === 'patternProperties' && typeof child === 'object' && child !== null && !Array.isArray(child)) {
      for (const pattern of Object.keys(child)) {
        const reason = patternProblem(pattern);
        if (reason) errors.push(`${at.slice(1)}: ${JSON.stringify(pattern)} ${reason}`);
      }
    }
    errors.push(...unsupportedPatternErrors(child, at));
  }
  return errors;
}

function patternProblem(pattern: string): string | undefined {
  if (pattern.length > schemaLimits.maxPatternLength) return `is longer than ${schemaLimits.maxPatternLength} characters`;
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (error) {
    const message = (error as Error).message.replace(/^error parsing regexp: /, '');
    return `cannot run in linear time (RE2: no backreferences or lookaround): ${message}`;
  }
}

/**
 * What ajv's `code.regExp` option takes: a function compiling a pattern (with `code` naming it for
 * ajv's standalone output).
 *
 * @example
 * ```ts
 * const engine: RegExpEngine = re2RegExp;
 * ```
 */
export type RegExpEngine = ((pattern: string, flags: string) => { test(input: string): boolean; toString(): string }) & { code: string };

/**
 * The regular expression engine of every ajv instance that compiles an untrusted schema: RE2 (the
 * pure-JS `re2js` port), which matches in time linear in the input, so `pattern: "^(a+)+$"` cannot
 * backtrack for minutes. Flags are ignored (ajv passes `u`; RE2 always matches Unicode code points).
 *
 * @example
 * ```ts
 * new Ajv2020({ code: { regExp: re2RegExp } });
 * re2RegExp('^(a+)+$', 'u').test(`${'a'.repeat(50)}!`); // false, at once
 * ```
 */
export const re2RegExp: RegExpEngine = Object.assign(
  (pattern: string, _flags: string) => {
    const compiled = RE2JS.compile(pattern);
    // ajv shares compiled patterns across schemas by their toString(): it must name this pattern.
    return { test: (input: string) => compiled.test(input), toString: () => `/${pattern}/${_flags}` };
  },
  { code: 'require("re2js").RE2JS.compile' },
);
