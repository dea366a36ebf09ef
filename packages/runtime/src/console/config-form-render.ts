// Server-side rendering of a plugin's config form fields from its JSON Schema (see config-form-schema.ts
// for the field name syntax). Secrets are never rendered: a password input, always empty.
import { type ConfigSchema, redactConfig } from '@plugline/sdk';
import { copyOrigins, type FieldError, optionValue, rowOrigins } from './config-form-read.js';
import { deref, encodeSegment, type FieldKind, fieldFor, fieldKind, hasSecretBelow, idOf, isSchema, isSecretSchema, ROOT_PATH, type Schema, TEMPLATE_INDEX } from './config-form-schema.js';
import { html, Markup } from './html.js';

interface Context {
  root: Schema;
  errors: Map<string, string[]>;
  /** Rendering a `<template>` row: no values. */
  template: boolean;
}

const MAX_DEPTH = 24;

function label(schema: Schema, key: string): string {
  return typeof schema.title === 'string' && schema.title !== '' ? schema.title : key;
}

function describedBy(path: string, schema: Schema): string {
  const id = idOf(path);
  return [typeof schema.description === 'string' ? `${id}-help` : '', `${id}-error`].filter(Boolean).join(' ');
}

function help(path: string, schema: Schema): Markup | string {
  return typeof schema.description === 'string' ? html`<p class="field-help" id="${idOf(path)}-help">${schema.description}</p>` : '';
}

function errorBlock(context: Context, path: string): Markup {
  const messages = context.errors.get(path) ?? [];
  return html`<p class="field-error" id="${idOf(path)}-error" data-error-for="${path}"${messages.length === 0 ? html` hidden` : ''}>${messages.join('; ')}</p>`;
}

function invalid(context: Context, path: string): Markup | string {
  return context.errors.has(path) ? html` aria-invalid="true"` : '';
}

function requiredMark(required: boolean): Markup | string {
  return required ? html` <span class="field-required" aria-hidden="true">*</span><span class="visually-hidden"> (required)</span>` : '';
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

function hasValue(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function numberAttributes(schema: Schema, integer: boolean): Markup {
  const min = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum : undefined;
  const max = typeof schema.maximum === 'number' ? schema.maximum : typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum : undefined;
  const step = typeof schema.multipleOf === 'number' ? schema.multipleOf : integer ? 1 : 'any';
  return html`${min !== undefined ? html` min="${min}"` : ''}${max !== undefined ? html` max="${max}"` : ''} step="${step}" inputmode="${integer ? 'numeric' : 'decimal'}"`;
}

/** The control of a primitive location (no label). */
function control(context: Context, kind: FieldKind, schema: Schema, path: string, value: unknown, required: boolean): Markup {
  const common = html`id="${idOf(path)}" name="${path}" aria-describedby="${describedBy(path, schema)}"${required ? html` aria-required="true"` : ''}${invalid(context, path)}`;
  const shown = context.template ? undefined : value;
  if (isSecretSchema(context.root, schema)) {
    const stored = hasValue(shown);
    return html`<input type="password" autocomplete="off" value="" ${common} placeholder="${stored ? 'unchanged (leave empty to keep)' : 'not set'}"${stored ? html` data-secret-set` : ''}>`;
  }
  switch (kind.kind) {
    case 'number':
      return html`<input type="number"${numberAttributes(schema, kind.integer)} ${common} value="${text(shown)}">`;
    case 'boolean':
      return html`<input type="hidden" name="${path}" value="false"><input type="checkbox" value="true" ${common}${shown === true || (shown === undefined && schema.default === true && !context.template) ? html` checked` : ''}>`;
    case 'enum': {
      const current = shown === undefined ? undefined : optionValue(shown);
      return html`<select ${common}>${required && current !== undefined ? '' : html`<option value="">(not set)</option>`}${kind.values.map((option) => html`<option value="${optionValue(option)}"${optionValue(option) === current ? html` selected` : ''}>${text(option)}</option>`)}</select>`;
    }
    case 'textarea':
      return html`<textarea rows="4" spellcheck="false" ${common}>${text(shown)}</textarea>`;
    case 'json': {
      // The config was redacted before rendering: a JSON field over secrets shows masks, and a mask
      // sent back keeps the stored value.
      const secrets = hasSecretBelow(context.root, schema) ? html` data-has-secrets` : '';
      return html`<textarea rows="5" spellcheck="false" class="json" data-json${secrets} ${common}>${shown === undefined ? '' : JSON.stringify(shown, null, 2)}</textarea>`;
    }
    default:
      return html`<input type="${kind.kind === 'string' ? kind.inputType : 'text'}" ${common} value="${text(shown)}"${typeof schema.maxLength === 'number' ? html` maxlength="${schema.maxLength}"` : ''}>`;
  }
}

function field(context: Context, raw: unknown, key: string, path: string, value: unknown, required: boolean, depth: number): Markup {
  const schema = deref(context.root, raw);
  let kind = fieldKind(context.root, schema);
  if (depth > MAX_DEPTH && (kind.kind === 'object' || kind.kind === 'array')) kind = { kind: 'json' };
  if (kind.kind === 'object') return objectFieldset(context, kind, schema, key, path, value, required, depth);
  if (kind.kind === 'array') return arrayFieldset(context, kind.items, schema, key, path, value, required, depth);
  const hint = kind.kind === 'json' ? html`<span class="field-type"> (JSON)</span>` : '';
  if (kind.kind === 'boolean' && !isSecretSchema(context.root, schema)) {
    return html`<div class="field field-check" data-path="${path}">${control(context, kind, schema, path, value, required)}<label for="${idOf(path)}">${label(schema, key)}${requiredMark(required)}</label>${help(path, schema)}${errorBlock(context, path)}</div>`;
  }
  return html`<div class="field" data-path="${path}"><label for="${idOf(path)}">${label(schema, key)}${requiredMark(required)}${hint}</label>${help(path, schema)}${control(context, kind, schema, path, value, required)}${errorBlock(context, path)}</div>`;
}

function objectBody(context: Context, kind: Extract<FieldKind, { kind: 'object' }>, path: string, value: unknown, depth: number): Markup[] {
  const object = isSchema(value) ? value : {};
  return kind.properties.map(([key, sub]) => field(context, sub, key, `${path}.${encodeSegment(key)}`, object[key], kind.required.has(key), depth + 1));
}

function objectFieldset(context: Context, kind: Extract<FieldKind, { kind: 'object' }>, schema: Schema, key: string, path: string, value: unknown, required: boolean, depth: number): Markup {
  return html`<fieldset class="field-group" id="${idOf(path)}" data-path="${path}" aria-describedby="${describedBy(path, schema)}"${invalid(context, path)}><legend>${label(schema, key)}${requiredMark(required)}</legend>${help(path, schema)}${errorBlock(context, path)}${objectBody(context, kind, path, value, depth)}</fieldset>`;
}

function row(context: Context, items: Schema, arrayPath: string, index: string, origin: number | null, value: unknown, depth: number): Markup {
  const path = `${arrayPath}.${index}`;
  const kind = fieldKind(context.root, items);
  const remove = html`<button type="submit" class="row-remove" name="_form" value="remove:${path}" formnovalidate>Remove</button>`;
  const marker = html`<input type="hidden" name="_row.${path}" value="${origin === null ? '' : origin}">`;
  if (kind.kind === 'object') {
    return html`<fieldset class="array-row" id="${idOf(path)}" data-row data-path="${path}"${invalid(context, path)}><legend>${label(items, 'Item')} <span class="row-number">${index === TEMPLATE_INDEX ? '' : Number(index) + 1}</span></legend>${marker}${errorBlock(context, path)}${objectBody(context, kind, path, value, depth)}${remove}</fieldset>`;
  }
  return html`<div class="array-row array-row-inline" data-row data-path="${path}">${marker}<label class="visually-hidden" for="${idOf(path)}">${label(items, 'Item')}</label>${control(context, kind, items, path, value, false)}${remove}${errorBlock(context, path)}</div>`;
}

function arrayFieldset(context: Context, items: Schema, schema: Schema, key: string, path: string, value: unknown, required: boolean, depth: number): Markup {
  const list = context.template ? [] : Array.isArray(value) ? value : [];
  const origins = rowOrigins.get(list);
  const rows = list.map((item, index) => row(context, items, path, String(index), origins ? (origins[index] ?? null) : index, item, depth + 1));
  const template = row({ ...context, template: true }, items, path, TEMPLATE_INDEX, null, undefined, depth + 1);
  return html`<fieldset class="field-group field-array" id="${idOf(path)}" data-path="${path}" data-array aria-describedby="${describedBy(path, schema)}"${invalid(context, path)}><legend>${label(schema, key)}${requiredMark(required)}</legend>${help(path, schema)}${errorBlock(context, path)}<input type="hidden" name="_array.${path}" value=""><div class="array-rows" data-rows>${rows}</div><template data-row-template="${path}">${template}</template><button type="submit" class="row-add" name="_form" value="add:${path}" formnovalidate>Add</button></fieldset>`;
}

/** The data block with the schema for the browser script (`<` `>` `&` and U+2028/9 escaped, so it cannot end the script). */
export function schemaDataBlock(schema: Schema, validatorId?: string): Markup {
  const json = JSON.stringify(schema).replace(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return new Markup(
    `<script type="application/json" data-config-schema${validatorId ? ` data-validator="${validatorId.replace(/[^A-Za-z0-9_-]/g, '')}"` : ''}>${json}</script>`,
  );
}

/** Options of {@link renderFields}. */
export interface RenderOptions {
  errors?: FieldError[];
  validatorId?: string;
}

/** Renders the fields, the error summary and the schema data block. */
export function renderFields(schema: Schema, stored: Record<string, unknown>, options: RenderOptions = {}): Markup {
  // Rendered from the redacted config: secrets are masks here (set or not is all a field shows).
  const config = redactConfig(schema as unknown as ConfigSchema, stored);
  copyOrigins(stored, config);
  const known = new Set<string>();
  const collect = (markup: Markup) => {
    for (const match of markup.value.matchAll(/data-path="([^"]*)"/g)) known.add((match[1] ?? '').replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
  };
  const kind = fieldKind(schema, schema);
  const body = (errors: Map<string, string[]>) => {
    const context: Context = { root: schema, errors, template: false };
    return kind.kind === 'object' ? html`${objectBody(context, kind, ROOT_PATH, config, 0)}` : field(context, schema, 'config', ROOT_PATH, config, true, 0);
  };
  // First pass: which fields exist (to put each error at its field or the nearest group).
  const fields = body(new Map());
  collect(fields);
  known.add(ROOT_PATH);
  const errors = new Map<string, string[]>();
  const summary: { path: string; field: string; message: string }[] = [];
  for (const error of options.errors ?? []) {
    const at = fieldFor(error.path, known) ?? ROOT_PATH;
    const message = at === error.path ? error.message : `${error.path.split('.').slice(at.split('.').length).join('.')} ${error.message}`;
    errors.set(at, [...(errors.get(at) ?? []), message]);
    summary.push({ path: error.path, field: at, message: error.message });
  }
  const rendered = errors.size === 0 ? fields : body(errors);
  return html`<div class="form-errors" data-config-errors role="alert" tabindex="-1"${summary.length === 0 ? html` hidden` : ''}><p class="form-errors-title">${summary.length === 1 ? '1 problem' : `${summary.length} problems`} to fix:</p><ul>${summary.map((entry) => html`<li><a href="#${idOf(entry.field)}">${entry.path.replace(/^config\.?/, '') || 'config'}</a>: ${entry.message}</li>`)}</ul></div>${errorBlock({ root: schema, errors, template: false }, ROOT_PATH)}${rendered}${schemaDataBlock(schema, options.validatorId)}`;
}
