// The config form's view of a JSON Schema: which control each location gets, and the field name
// syntax. Pure (no Node APIs): the console's browser script uses it too.
//
// Field names: `config` then `.<segment>` per level, a segment being an object key with `%` written
// `%25` and `.` written `%2E`, or an array index in decimal: `config.headers.0.name`. Meta fields
// start with `_`: `_form` (the button pressed: `save`, `add:<path>`, `remove:<path>`), `_row.<path>`
// (the index a row had in the stored config, empty for a new row) and `_array.<path>` (the array was
// on the form, so no rows means `[]`).

/** A JSON Schema node. */
export type Schema = Record<string, unknown>;

/** What control a schema location is edited with. */
export type FieldKind =
  | { kind: 'string'; inputType: 'text' | 'email' | 'url' }
  | { kind: 'textarea' }
  | { kind: 'number'; integer: boolean }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly unknown[] }
  | { kind: 'object'; properties: [string, Schema][]; required: Set<string> }
  | { kind: 'array'; items: Schema }
  | { kind: 'json' };

/** The root field name. */
export const ROOT_PATH = 'config';
/** The placeholder index of a row in a `<template>` (replaced by the row's index when cloned). */
export const TEMPLATE_INDEX = '__index__';

/** One key or index as a name segment (`.` and `%` escaped). */
export function encodeSegment(segment: string): string {
  return segment.replace(/%/g, '%25').replace(/\./g, '%2E');
}

/** The field name of a location given by raw keys, e.g. `['headers', '0', 'a.b']` → `config.headers.0.a%2Eb`. */
export function pathOf(segments: readonly string[]): string {
  return [ROOT_PATH, ...segments.map(encodeSegment)].join('.');
}

/** The raw keys of a field name below `config` (the inverse of {@link pathOf}). */
export function segmentsOf(path: string): string[] {
  return path
    .split('.')
    .slice(1)
    .map((segment) => segment.replace(/%2E/gi, '.').replace(/%25/g, '%'));
}

/** The element id of a field name: `cf-` and the name URI-encoded with `%` as `:` (ids are unique per name). */
export function idOf(path: string): string {
  return `cf-${encodeURIComponent(path).replace(/%/g, ':')}`;
}

export function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith('#/')) return ref === '#' ? root : undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isSchema(node) && Object.hasOwn(node, segment) ? node[segment] : undefined;
  }
  return isSchema(node) ? node : undefined;
}

/** The schema with local `$ref`s merged in (its own keywords win), followed at most 16 deep. */
export function deref(root: Schema, schema: unknown): Schema {
  let node: Schema = isSchema(schema) ? schema : {};
  for (let depth = 0; depth < 16 && typeof node.$ref === 'string'; depth++) {
    const { $ref, ...rest } = node;
    const target = resolveRef(root, $ref as string);
    if (!target) return rest;
    node = { ...target, ...rest };
  }
  return node;
}

function isPrimitive(value: unknown): boolean {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

// `type: ['string', 'null']` edits like `type: 'string'` (empty leaves the key out).
function typeOf(schema: Schema): string | undefined {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const others = type.filter((entry) => entry !== 'null');
    if (others.length === 1 && typeof others[0] === 'string') return others[0];
    return 'mixed';
  }
  return undefined;
}

/**
 * The control for a schema location. `anyOf`/`oneOf`, maps (`patternProperties`, an
 * `additionalProperties` schema), objects without `properties`, tuples, mixed types and schemas without
 * a type are edited as JSON; `allOf`, `if`/`then`/`else` and `not` only constrain (the validator checks them).
 */
export function fieldKind(root: Schema, raw: unknown): FieldKind {
  const schema = deref(root, raw);
  if (Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf)) return { kind: 'json' };
  if (Array.isArray(schema.enum) && schema.enum.length > 0 && schema.enum.every(isPrimitive)) return { kind: 'enum', values: schema.enum };
  if ('const' in schema && isPrimitive(schema.const)) return { kind: 'enum', values: [schema.const] };
  const type = typeOf(schema);
  switch (type) {
    case 'string':
      if (schema.format === 'textarea' || typeof schema.contentMediaType === 'string' || schema['x-multiline'] === true) return { kind: 'textarea' };
      return { kind: 'string', inputType: schema.format === 'email' ? 'email' : schema.format === 'uri' || schema.format === 'url' ? 'url' : 'text' };
    case 'integer':
    case 'number':
      return { kind: 'number', integer: type === 'integer' };
    case 'boolean':
      return { kind: 'boolean' };
    case 'object': {
      const properties = isSchema(schema.properties) ? schema.properties : undefined;
      const map = isSchema(schema.patternProperties) || isSchema(schema.additionalProperties) || schema.additionalProperties === true;
      if (!properties || Object.keys(properties).length === 0 || map) return { kind: 'json' };
      const required = new Set(Array.isArray(schema.required) ? schema.required.filter((key): key is string => typeof key === 'string') : []);
      return { kind: 'object', properties: Object.entries(properties).map(([key, sub]) => [key, isSchema(sub) ? sub : {}]), required };
    }
    case 'array': {
      if (Array.isArray(schema.prefixItems) || !isSchema(schema.items)) return { kind: 'json' };
      const items = fieldKind(root, schema.items);
      if (items.kind === 'array' || items.kind === 'json' || items.kind === 'boolean') return { kind: 'json' };
      return { kind: 'array', items: deref(root, schema.items) };
    }
    default:
      return { kind: 'json' };
  }
}

/** Whether the schema marks the location `writeOnly` (a secret). */
export function isSecretSchema(root: Schema, raw: unknown): boolean {
  return deref(root, raw).writeOnly === true;
}

/** Whether a subtree holds a secret anywhere (a JSON field over it shows masks, not values). */
export function hasSecretBelow(root: Schema, raw: unknown, depth = 0): boolean {
  if (depth > 32) return true;
  const schema = deref(root, raw);
  if (schema.writeOnly === true) return true;
  return Object.values(schema).some((child) =>
    Array.isArray(child) ? child.some((item) => isSchema(item) && hasSecretBelow(root, item, depth + 1)) : isSchema(child) && hasSecretBelow(root, child, depth + 1),
  );
}

/** The rendered field whose name is the longest prefix of `path` (where an error is shown), from `known`. */
export function fieldFor(path: string, known: ReadonlySet<string>): string | undefined {
  const segments = path.split('.');
  for (let length = segments.length; length > 0; length--) {
    const candidate = segments.slice(0, length).join('.');
    if (known.has(candidate)) return candidate;
  }
  return undefined;
}
