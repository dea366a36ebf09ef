// The console's config form: fields generated from a plugin's JSON Schema config, read back into a
// validated config with errors per field, Add/Remove of array rows with or without JavaScript, and the
// validator script the browser runs (ajv standalone code: no eval under the console's CSP).
//
// Field names (see config-form-schema.ts): `config.<key>.<index>...`, keys with `.` and `%` escaped
// as `%2E` and `%25`: `config.headers.0.name`. Meta fields: `_form`, `_row.<path>`, `_array.<path>`.
import { createHash } from 'node:crypto';
import { type ConfigSchema, configValidatorSource, restoreSecrets, SECRET_MASK, validateConfigDetailed } from '@plugline/sdk';
import { alignStored, collectConfigForm, copyOrigins, type FieldError, formAction, rowOrigins } from './config-form-read.js';
import { renderFields } from './config-form-render.js';
import { fieldKind, isSchema, pathOf, type Schema, segmentsOf } from './config-form-schema.js';
import type { Markup } from './html.js';

export type { FieldError } from './config-form-read.js';
export { idOf, pathOf, segmentsOf } from './config-form-schema.js';

/** The global the validator scripts register their factories on (read by the console script). */
export const VALIDATOR_GLOBAL = '__pluglineConfigValidators';

/** Options of {@link renderConfigFields}. */
export interface ConfigFieldsOptions {
  /** Errors to show at their fields and in the summary (from {@link readConfigForm}). */
  errors?: FieldError[];
}

/**
 * The form fields for a plugin's config: one control per schema location (see the module comment for
 * names), an error summary (`[data-config-errors]`) first, and the schema as a
 * `<script type="application/json" data-config-schema data-validator="<id>">` data block last (id:
 * {@link configValidatorId}). Secrets are password inputs whose value is always empty. Put it in a
 * `<form method="post" data-config-form novalidate>` with a `<button type="submit" name="_form" value="save">`.
 *
 * @example
 * ```ts
 * html`<form method="post" action="/console/plugins/geoip/config" data-config-form novalidate>${renderConfigFields(schema, stored)}<button name="_form" value="save">Save</button></form>`
 * ```
 */
export function renderConfigFields(schema: ConfigSchema, config: Record<string, unknown>, options: ConfigFieldsOptions = {}): Markup {
  return renderFields(schema as unknown as Schema, config, { ...options, validatorId: configValidatorId(schema) });
}

function setAt(target: Record<string, unknown>, segments: readonly string[], value: unknown): void {
  let node: unknown = target;
  for (const segment of segments.slice(0, -1)) {
    node = isSchema(node) || Array.isArray(node) ? (node as Record<string, unknown>)[segment] : undefined;
  }
  const last = segments[segments.length - 1];
  if (last === undefined || !(isSchema(node) || Array.isArray(node))) return;
  const container = node as Record<string, unknown>;
  if (value === undefined) {
    if (Array.isArray(node)) return;
    delete container[last];
  } else container[last] = value;
}

function getAt(target: unknown, segments: readonly string[]): unknown {
  let node = target;
  for (const segment of segments) node = isSchema(node) || Array.isArray(node) ? (node as Record<string, unknown>)[segment] : undefined;
  return node;
}

// The typed config with every secret left empty given its stored value (aligned by row origins); a
// secret with no stored value is left out.
function withSecrets(schema: ConfigSchema, collected: ReturnType<typeof collectConfigForm>, stored: Record<string, unknown>): Record<string, unknown> {
  const incoming = collected.value;
  for (const path of collected.emptySecrets) setAt(incoming, segmentsOf(path), SECRET_MASK);
  const restored = restoreSecrets(schema, incoming, alignStored(incoming, stored) as Record<string, unknown>);
  for (const path of collected.emptySecrets) if (getAt(restored, segmentsOf(path)) === SECRET_MASK) setAt(restored, segmentsOf(path), undefined);
  copyOrigins(incoming, restored);
  return restored;
}

/**
 * Reads a submitted config form: fields typed per the schema, empty secrets keep their `stored` value
 * (new secrets replace it), then the SDK's `validateConfigDetailed`, its errors at field names. `value`
 * is the validated config (defaults applied) when `errors` is empty, else the config as submitted (to
 * render the form again with `renderConfigFields(schema, value, { errors })`).
 *
 * @example
 * ```ts
 * const { value, errors } = readConfigForm(schema, new URLSearchParams(body), stored);
 * // errors: [{ path: 'config.headers.1.name', message: 'is required' }]
 * ```
 */
export function readConfigForm(schema: ConfigSchema, form: URLSearchParams, stored: Record<string, unknown>): { value: Record<string, unknown>; errors: FieldError[] } {
  const collected = collectConfigForm(schema as unknown as Schema, form);
  const value = withSecrets(schema, collected, stored);
  const result = validateConfigDetailed(schema, value);
  const unreadable = new Set(collected.errors.map((error) => error.path));
  const errors = [
    ...collected.errors,
    ...result.errors.map((error) => ({ path: error.keyword === 'limits' ? 'config' : pathOf(error.segments), message: error.message })).filter((error) => !unreadable.has(error.path)),
  ];
  if (result.value !== undefined && errors.length === 0) return { value: result.value, errors: [] };
  return { value, errors };
}

/**
 * What a POST of the config form asks for: `save` (read it with {@link readConfigForm}), or `edit`
 * after an Add/Remove button without JavaScript: render `renderConfigFields(schema, config)` again, with
 * the row added or removed. Typed secrets are not carried over (a password field cannot show them):
 * `config` has the `stored` ones.
 *
 * @example
 * ```ts
 * const step = applyFormAction(schema, form, stored);
 * if (step.action === 'edit') return page(renderConfigFields(schema, step.config));
 * ```
 */
export function applyFormAction(schema: ConfigSchema, form: URLSearchParams, stored: Record<string, unknown> = {}): { action: 'save' } | { action: 'edit'; config: Record<string, unknown> } {
  const action = formAction(form);
  if (action.action === 'save') return { action: 'save' };
  const collected = collectConfigForm(schema as unknown as Schema, form, { keepEmptyRows: true, secretsAsEmpty: true });
  const config = withSecrets(schema, collected, stored);
  const segments = segmentsOf(action.path);
  if (action.action === 'add') {
    let list = getAt(config, segments);
    if (!Array.isArray(list)) {
      list = [];
      setAt(config, segments, list);
    }
    const array = list as unknown[];
    const origins = rowOrigins.get(array) ?? array.map((_, index) => index);
    const itemSchema = arrayItems(schema as unknown as Schema, segments);
    array.push(itemSchema && fieldKind(schema as unknown as Schema, itemSchema).kind === 'object' ? {} : '');
    rowOrigins.set(array, [...origins, null]);
  } else {
    const index = Number(segments[segments.length - 1]);
    const array = getAt(config, segments.slice(0, -1));
    if (Array.isArray(array) && Number.isInteger(index) && index < array.length) {
      const origins = rowOrigins.get(array) ?? array.map((_, i) => i);
      array.splice(index, 1);
      rowOrigins.set(array, origins.filter((_, i) => i !== index));
    }
  }
  return { action: 'edit', config };
}

function arrayItems(root: Schema, segments: readonly string[]): Schema | undefined {
  let kind = fieldKind(root, root);
  for (const segment of segments) {
    if (kind.kind === 'object') {
      const sub = kind.properties.find(([key]) => key === segment)?.[1];
      if (!sub) return undefined;
      kind = fieldKind(root, sub);
    } else if (kind.kind === 'array' && /^\d+$/.test(segment)) kind = fieldKind(root, kind.items);
    else return undefined;
  }
  return kind.kind === 'array' ? kind.items : undefined;
}

const validatorIds = new WeakMap<object, string>();

/** A short content hash of a schema: the `data-validator` id and a cache-busting part of the validator's URL. */
export function configValidatorId(schema: ConfigSchema): string {
  let id = validatorIds.get(schema as object);
  if (!id) {
    id = createHash('sha256').update(JSON.stringify(schema)).digest('base64url').slice(0, 16);
    validatorIds.set(schema as object, id);
  }
  return id;
}

/**
 * The browser script validating a schema's configs (serve as `text/javascript` from the console's
 * origin, e.g. at `/console/config-validator/<configValidatorId>.js`, and include it with
 * `<script src defer>` before or after `/console/console.js`): ajv standalone code of the SDK's config
 * validator, registered under {@link VALIDATOR_GLOBAL} by id. It needs no eval.
 */
export function configValidatorScript(schema: ConfigSchema): string {
  const id = JSON.stringify(configValidatorId(schema));
  return `(globalThis.${VALIDATOR_GLOBAL} ??= {})[${id}] = function (require, formats) {\nconst module = { exports: {} };\nconst exports = module.exports;\n${configValidatorSource(schema)}\nreturn module.exports;\n};\n`;
}
