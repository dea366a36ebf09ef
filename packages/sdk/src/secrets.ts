// Secrets in configs: which values of a config a JSON Schema marks `writeOnly`, at every depth.
import type { ConfigSchema } from './plugin.js';

/** What a secret value looks like in logs and API responses. */
export const SECRET_MASK = '********';

type Schema = Record<string, unknown>;

// How deep a config (and a chain of `$ref`s) is followed: deeper values are masked whole when unsure.
const MAX_DEPTH = 64;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Resolves a local `$ref` (`#`, `#/json/pointer`, `#anchor`) against the root schema; anything else is unknown. */
function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith('#')) return undefined;
  const fragment = ref.slice(1);
  if (fragment === '') return root;
  if (!fragment.startsWith('/')) return findAnchor(root, decodeURIComponent(fragment), 0);
  let node: unknown = root;
  for (const raw of fragment.slice(1).split('/')) {
    const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(segment)];
    else if (isSchema(node)) node = Object.hasOwn(node, segment) ? node[segment] : undefined;
    else return undefined;
  }
  return isSchema(node) ? node : undefined;
}

function findAnchor(node: unknown, anchor: string, depth: number): Schema | undefined {
  if (depth > MAX_DEPTH) return undefined;
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findAnchor(item, anchor, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  if (!isSchema(node)) return undefined;
  if (node.$anchor === anchor || node.$dynamicAnchor === anchor) return node;
  for (const value of Object.values(node)) {
    const found = findAnchor(value, anchor, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Every schema that applies to one location of the config: the schema itself, its `$ref` target and
 * the branches of `allOf`/`anyOf`/`oneOf`/`if`/`then`/`else`/`dependentSchemas`, recursively. Branches
 * are all included whichever one the value matches: a secret in any branch is a secret.
 */
function expand(root: Schema, schemas: readonly unknown[]): Schema[] {
  const seen = new Set<Schema>();
  const out: Schema[] = [];
  const visit = (schema: unknown, depth: number) => {
    if (!isSchema(schema) || seen.has(schema) || depth > MAX_DEPTH) return;
    seen.add(schema);
    out.push(schema);
    for (const key of ['$ref', '$dynamicRef'] as const) {
      const ref = schema[key];
      if (typeof ref === 'string') visit(resolveRef(root, ref), depth + 1);
    }
    for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
      const branches = schema[key];
      if (Array.isArray(branches)) for (const branch of branches) visit(branch, depth + 1);
    }
    for (const key of ['if', 'then', 'else'] as const) visit(schema[key], depth + 1);
    if (isSchema(schema.dependentSchemas)) for (const branch of Object.values(schema.dependentSchemas)) visit(branch, depth + 1);
  };
  for (const schema of schemas) visit(schema, 0);
  return out;
}

function patternMatches(pattern: string, key: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(key);
  } catch {
    // A pattern this engine cannot compile: assume it applies (masking too much is the safe side).
    return true;
  }
}

/** The schemas that apply to property `key` of an object any of `schemas` describes. */
function propertySchemas(schemas: readonly Schema[], key: string): unknown[] {
  const out: unknown[] = [];
  for (const schema of schemas) {
    const properties = isSchema(schema.properties) ? schema.properties : undefined;
    let matched = false;
    if (properties && Object.hasOwn(properties, key)) {
      out.push(properties[key]);
      matched = true;
    }
    if (isSchema(schema.patternProperties)) {
      for (const [pattern, sub] of Object.entries(schema.patternProperties)) {
        if (patternMatches(pattern, key)) {
          out.push(sub);
          matched = true;
        }
      }
    }
    if (!matched) {
      out.push(schema.additionalProperties);
      out.push(schema.unevaluatedProperties);
    }
  }
  return out;
}

/** The schemas that apply to item `index` of an array any of `schemas` describes. */
function itemSchemas(schemas: readonly Schema[], index: number): unknown[] {
  const out: unknown[] = [];
  for (const schema of schemas) {
    const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : undefined;
    if (prefix && index < prefix.length) out.push(prefix[index]);
    else {
      // `items` as an array is draft-07 tuple form; as a schema it covers the items after prefixItems.
      if (Array.isArray(schema.items)) out.push(schema.items[index] ?? schema.additionalItems);
      else out.push(schema.items);
      out.push(schema.unevaluatedItems);
    }
    out.push(schema.contains);
  }
  return out;
}

function isSecret(schemas: readonly Schema[]): boolean {
  return schemas.some((schema) => schema.writeOnly === true);
}

function hasValue(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function redactAt(root: Schema, schemas: readonly unknown[], value: unknown, depth: number): unknown {
  const applicable = expand(root, schemas);
  if (isSecret(applicable)) return hasValue(value) ? SECRET_MASK : value;
  if (applicable.length === 0 || (!Array.isArray(value) && !isPlainObject(value))) return value;
  if (depth > MAX_DEPTH) return SECRET_MASK;
  if (Array.isArray(value)) return value.map((item, index) => redactAt(root, itemSchemas(applicable, index), item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = redactAt(root, propertySchemas(applicable, key), item, depth + 1);
  return copy;
}

/**
 * A copy of a config with every `writeOnly` value replaced by `'********'`, at every depth: nested
 * objects, array items, `$ref`/`$defs`, the branches of `anyOf`/`oneOf`/`allOf`/`if`/`then`/`else`,
 * `patternProperties` and `additionalProperties` (a value is masked when any schema that may apply to it
 * is `writeOnly`). What logs, errors and API responses may show. Empty values (`undefined`, `null`, `''`)
 * stay as they are, so a reader can tell "not set" from "set".
 *
 * @example
 * ```ts
 * const schema = {
 *   type: 'object',
 *   properties: { apiKey: { type: 'string', writeOnly: true }, headers: { type: 'object', additionalProperties: { type: 'string', writeOnly: true } } },
 * } as const;
 * redactConfig(schema, { apiKey: 'sk-live-123', headers: { Authorization: 'Bearer x' }, mode: 'a' });
 * // { apiKey: '********', headers: { Authorization: '********' }, mode: 'a' }
 * ```
 */
export function redactConfig<T extends Record<string, unknown>>(schema: ConfigSchema, config: T): T {
  const root = schema as unknown as Schema;
  return redactAt(root, [root], config, 0) as T;
}

function restoreAt(root: Schema, schemas: readonly unknown[], incoming: unknown, stored: unknown, depth: number): unknown {
  const applicable = expand(root, schemas);
  if (isSecret(applicable)) return incoming === SECRET_MASK && stored !== undefined ? stored : incoming;
  if (applicable.length === 0 || depth > MAX_DEPTH) return incoming;
  if (Array.isArray(incoming)) {
    const previous = Array.isArray(stored) ? stored : [];
    return incoming.map((item, index) => restoreAt(root, itemSchemas(applicable, index), item, previous[index], depth + 1));
  }
  if (!isPlainObject(incoming)) return incoming;
  const previous = isPlainObject(stored) ? stored : {};
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(incoming)) {
    copy[key] = restoreAt(root, propertySchemas(applicable, key), item, Object.hasOwn(previous, key) ? previous[key] : undefined, depth + 1);
  }
  return copy;
}

/**
 * The config a client sent back after reading it redacted: every `writeOnly` location (at any depth,
 * as {@link redactConfig} finds them) whose value is the mask `'********'` gets the stored value at the
 * same location; everything else is taken as sent. Array items are matched by index.
 *
 * @example
 * ```ts
 * const schema = { type: 'object', properties: { auth: { type: 'object', properties: { token: { type: 'string', writeOnly: true } } } } } as const;
 * restoreSecrets(schema, { auth: { token: '********' }, n: 2 }, { auth: { token: 's3cr3t' }, n: 1 });
 * // { auth: { token: 's3cr3t' }, n: 2 }
 * ```
 */
export function restoreSecrets<T extends Record<string, unknown>>(schema: ConfigSchema, incoming: T, stored: Record<string, unknown>): T {
  const root = schema as unknown as Schema;
  return restoreAt(root, [root], incoming, stored, 0) as T;
}

function collectSecrets(root: Schema, schemas: readonly unknown[], value: unknown, depth: number, out: Set<string>): void {
  const applicable = expand(root, schemas);
  if (isSecret(applicable)) {
    if (typeof value === 'string' || typeof value === 'number') out.add(String(value));
    else if (value !== null && typeof value === 'object') {
      // A secret object or array: every string in it is secret.
      const walk = (node: unknown, level: number) => {
        if (level > MAX_DEPTH) return;
        if (typeof node === 'string' || typeof node === 'number') out.add(String(node));
        else if (node && typeof node === 'object') for (const child of Object.values(node)) walk(child, level + 1);
      };
      walk(value, depth);
    }
    return;
  }
  if (applicable.length === 0 || depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) collectSecrets(root, itemSchemas(applicable, index), item, depth + 1, out);
  } else if (isPlainObject(value)) for (const [key, item] of Object.entries(value)) collectSecrets(root, propertySchemas(applicable, key), item, depth + 1, out);
}

/**
 * The secret values of a config (strings and numbers at `writeOnly` locations, at every depth), longest
 * first: what {@link scrubSecrets} removes from free text such as log lines and error messages.
 *
 * @example
 * ```ts
 * secretValues({ type: 'object', properties: { apiKey: { type: 'string', writeOnly: true } } }, { apiKey: 'sk-live-123' });
 * // ['sk-live-123']
 * ```
 */
export function secretValues(schema: ConfigSchema, config: Record<string, unknown>): string[] {
  const root = schema as unknown as Schema;
  const out = new Set<string>();
  collectSecrets(root, [root], config, 0, out);
  return [...out].filter((value) => value.length >= MIN_SCRUBBED_LENGTH).sort((a, b) => b.length - a.length);
}

// Shorter values (`1`, `on`) would turn ordinary text into masks without protecting anything.
const MIN_SCRUBBED_LENGTH = 4;

/**
 * Replaces every occurrence of the given secret values in `text` with `'********'`.
 *
 * @example
 * ```ts
 * scrubSecrets('GET https://x.test/?key=sk-live-123 failed', ['sk-live-123']); // 'GET https://x.test/?key=******** failed'
 * ```
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let scrubbed = text;
  for (const secret of secrets) if (scrubbed.includes(secret)) scrubbed = scrubbed.split(secret).join(SECRET_MASK);
  return scrubbed;
}

/**
 * The config keys a schema marks `writeOnly: true` at the top level (see {@link redactConfig} for
 * secrets at every depth).
 *
 * @example
 * ```ts
 * secretKeys({ type: 'object', properties: { apiKey: { type: 'string', writeOnly: true }, n: { type: 'integer' } } }); // ['apiKey']
 * ```
 */
export function secretKeys(schema: ConfigSchema): string[] {
  const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  return Object.entries(properties)
    .filter(([, property]) => typeof property === 'object' && property !== null && (property as { writeOnly?: unknown }).writeOnly === true)
    .map(([key]) => key);
}
