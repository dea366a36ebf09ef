import type { ConfigSchema, JsonSchema, JsonSchemaTypeName } from '@plugline/sdk';
import { html, jsonForScript, type SafeHtml } from './html.js';

/**
 * How a config property is edited. The browser script reads each field back by its kind:
 * `string`/`secret` as text, `integer`/`number` as numbers, `boolean` from a checkbox, `enum` from a
 * `<select>` whose option values are JSON, `list` as one item per line, `json` as JSON text.
 */
export type FieldKind = 'string' | 'secret' | 'integer' | 'number' | 'boolean' | 'enum' | 'list' | 'json';

/** One form field derived from a property of a config schema. */
export interface ConfigField {
  key: string;
  kind: FieldKind;
  label: string;
  description: string | undefined;
  required: boolean;
  default: unknown;
  /** For `enum`: the allowed values, in schema order. */
  options: readonly unknown[];
  /** For `list`: how each line is read (`string`, `integer` or `number`). */
  itemKind: 'string' | 'integer' | 'number';
  schema: JsonSchema;
}

function mainType(schema: JsonSchema): JsonSchemaTypeName | undefined {
  const { type } = schema;
  if (typeof type === 'string') return type;
  // `['string', 'null']` edits like a string: an empty field is left out.
  return type?.find((name) => name !== 'null');
}

function kindOf(schema: JsonSchema): Pick<ConfigField, 'kind' | 'options' | 'itemKind'> {
  const none = { options: [], itemKind: 'string' } as const;
  if (Array.isArray(schema.enum)) return { ...none, kind: 'enum', options: schema.enum };
  const type = mainType(schema);
  if (type === 'string') return { ...none, kind: schema.writeOnly === true ? 'secret' : 'string' };
  if (type === 'integer' || type === 'number' || type === 'boolean') return { ...none, kind: type };
  if (type === 'array' && schema.items && !Array.isArray(schema.items.enum)) {
    const itemType = mainType(schema.items);
    if (itemType === 'string' || itemType === 'integer' || itemType === 'number') return { ...none, kind: 'list', itemKind: itemType };
  }
  return { ...none, kind: 'json' };
}

/** The form fields of a config schema's top-level properties, in schema order. */
export function configFields(schema: ConfigSchema): ConfigField[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([key, property]) => ({
    key,
    ...kindOf(property),
    label: typeof property.title === 'string' && property.title.trim() ? property.title : key,
    description: typeof property.description === 'string' ? property.description : undefined,
    required: required.has(key),
    default: property.default,
    schema: property,
  }));
}

function numberAttributes(field: ConfigField): SafeHtml {
  const numeric = (name: string) => (typeof field.schema[name] === 'number' ? (field.schema[name] as number) : undefined);
  const min = numeric('minimum');
  const max = numeric('maximum');
  return html`${min === undefined ? '' : html` min="${min}"`}${max === undefined ? '' : html` max="${max}"`} step="${field.kind === 'integer' ? '1' : 'any'}"`;
}

const characters = (count: number): string => `${count} ${count === 1 ? 'character' : 'characters'}`;

function typeHint(field: ConfigField): string {
  const limits: string[] = [];
  const { schema } = field;
  if (typeof schema.minimum === 'number') limits.push(`≥ ${schema.minimum}`);
  if (typeof schema.exclusiveMinimum === 'number') limits.push(`> ${schema.exclusiveMinimum}`);
  if (typeof schema.maximum === 'number') limits.push(`≤ ${schema.maximum}`);
  if (typeof schema.exclusiveMaximum === 'number') limits.push(`< ${schema.exclusiveMaximum}`);
  if (typeof schema.minLength === 'number') limits.push(`at least ${characters(schema.minLength)}`);
  if (typeof schema.maxLength === 'number') limits.push(`at most ${characters(schema.maxLength)}`);
  if (typeof schema.format === 'string') limits.push(`format ${schema.format}`);
  const kind = {
    string: 'text',
    secret: 'secret text, never shown',
    integer: 'whole number',
    number: 'number',
    boolean: 'yes or no',
    enum: 'one of the choices',
    list: `list of ${field.itemKind === 'string' ? 'text' : `${field.itemKind}s`}, one per line`,
    json: 'JSON value',
  }[field.kind];
  const defaultText = field.default === undefined ? '' : `; default ${JSON.stringify(field.default)}`;
  return `${kind}${limits.length ? ` (${limits.join(', ')})` : ''}${defaultText}`;
}

function renderControl(field: ConfigField, id: string, describedBy: string): SafeHtml {
  // No `name` attribute: the form is never submitted anywhere, so secrets can't end up in a URL.
  const common = html`id="${id}" data-config-key="${field.key}" data-kind="${field.kind}" aria-describedby="${describedBy}"${field.required ? html` required aria-required="true"` : ''}`;
  const defaultValue = field.default;
  switch (field.kind) {
    case 'boolean':
      return html`<input type="checkbox" ${common}${defaultValue === true ? html` checked` : ''}>`;
    case 'enum': {
      // An empty choice only when leaving the value out is allowed (or a default fills it in).
      const blank = field.required && defaultValue === undefined ? html`<option value="" selected disabled>Choose…</option>` : field.required ? '' : html`<option value="">(not set)</option>`;
      const options = field.options.map((option) => {
        const text = typeof option === 'string' ? option : JSON.stringify(option);
        const selected = defaultValue !== undefined && JSON.stringify(option) === JSON.stringify(defaultValue);
        return html`<option value="${JSON.stringify(option)}"${selected ? html` selected` : ''}>${text}</option>`;
      });
      return html`<select ${common}>${blank}${options}</select>`;
    }
    case 'integer':
    case 'number':
      return html`<input type="number" inputmode="${field.kind === 'integer' ? 'numeric' : 'decimal'}"${numberAttributes(field)} ${common}${typeof defaultValue === 'number' ? html` value="${defaultValue}"` : ''}>`;
    case 'secret':
      return html`<input type="password" autocomplete="new-password" spellcheck="false" ${common}${typeof defaultValue === 'string' ? html` value="${defaultValue}"` : ''}>`;
    case 'string':
      return html`<input type="text" spellcheck="false" ${common}${typeof defaultValue === 'string' ? html` value="${defaultValue}"` : ''}>`;
    case 'list':
      return html`<textarea rows="3" data-item-kind="${field.itemKind}" ${common}>${Array.isArray(defaultValue) ? defaultValue.map(String).join('\n') : ''}</textarea>`;
    case 'json':
      return html`<textarea rows="4" spellcheck="false" class="mono" ${common}>${defaultValue === undefined ? '' : JSON.stringify(defaultValue, null, 2)}</textarea>`;
  }
}

/**
 * The config schema as an HTML form: one labelled control per top-level property (enums as `<select>`,
 * `writeOnly` strings as password fields, defaults filled in, required fields marked, descriptions as hints
 * tied to the control with `aria-describedby`), plus the schema itself as inert JSON for the browser
 * script that validates the form with the SDK's `validateConfig` and shows the resulting config JSON.
 * The button stays disabled until that script runs, and the controls have no `name`, so without
 * JavaScript the form never submits (a secret typed in can't leak into a URL).
 */
export function renderConfigForm(schema: ConfigSchema, options: { idPrefix?: string; installCommand?: string } = {}): SafeHtml {
  const idPrefix = options.idPrefix ?? 'cfg';
  const fields = configFields(schema);
  const rows = fields.map((field, index) => {
    const id = `${idPrefix}-${index}`;
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const label = html`<label for="${id}">${field.label}${field.required ? html` <span class="req" aria-hidden="true">*</span><span class="visually-hidden"> (required)</span>` : ''}</label>`;
    const hint = html`<p class="hint" id="${hintId}">${field.description ? html`${field.description} ` : ''}<span class="type">${field.key !== field.label ? html`<code>${field.key}</code>, ` : ''}${typeHint(field)}</span></p>`;
    const error = html`<p class="field-error" id="${errorId}" hidden></p>`;
    const control = renderControl(field, id, `${hintId} ${errorId}`);
    return field.kind === 'boolean'
      ? html`<div class="field field-check" data-field="${field.key}">${control} ${label}${hint}${error}</div>`
      : html`<div class="field" data-field="${field.key}">${label}${hint}${control}${error}</div>`;
  });
  const intro = fields.length === 0 ? html`<p>This plugin takes no configuration.</p>` : html`<p class="hint">Fields marked <span class="req" aria-hidden="true">*</span> are required.</p>`;
  return html`<form class="config-form" id="config-form" novalidate aria-describedby="config-form-help">
<p id="config-form-help" class="hint">Fill in the plugin's settings; they are checked against its config schema, in your browser, and turned into the config JSON. Nothing is sent anywhere.</p>
${intro}${rows}
<noscript><p class="notice">Checking a config needs JavaScript; the form alone sends nothing.</p></noscript>
<div class="form-actions"><button type="submit" disabled>Validate config</button> <label class="inline"><input type="checkbox" id="config-reveal"> Show secrets in the JSON</label></div>
<div id="config-errors" class="error-summary" role="alert" tabindex="-1" hidden></div>
<div class="config-result"><h3 id="config-json-label">Config JSON</h3><p id="config-status" role="status">Press “Validate config” to check your settings.</p><pre aria-labelledby="config-json-label"><code id="config-json"></code></pre>
<p class="form-actions"><button type="button" class="secondary" id="config-copy" hidden>Copy JSON with secrets</button><span class="copy-status" id="config-copy-status" role="status"></span></p>
${options.installCommand ? html`<p class="hint">Save it as <code>config.json</code>, then: <code>${options.installCommand} --config config.json</code></p>` : ''}</div>
<script type="application/json" id="config-schema">${jsonForScript(schema)}</script>
</form>`;
}
