import vm from 'node:vm';
import { type ConfigSchema, convertPostHogManifest } from '@plugline/sdk';
import { configValidatorFormats, configValidatorRequire } from '@plugline/sdk/browser';
import { describe, expect, it } from 'vitest';
import { applyFormAction, configValidatorScript, readConfigForm, renderConfigFields } from './config-form.js';

const schema = {
  type: 'object',
  required: ['url', 'secret'],
  properties: {
    url: { type: 'string', format: 'uri', title: 'Endpoint <b>URL</b>', description: 'Where "batches" go <script>alert(1)</script>' },
    email: { type: 'string', format: 'email' },
    secret: { type: 'string', minLength: 1, writeOnly: true },
    retries: { type: 'integer', minimum: 0, maximum: 10, default: 3 },
    ratio: { type: 'number' },
    enabled: { type: 'boolean', default: true },
    mode: { enum: ['fast', 'safe'] },
    notes: { type: 'string', format: 'textarea' },
    auth: { type: 'object', title: 'Auth', properties: { user: { type: 'string' }, token: { type: 'string', writeOnly: true } } },
    tags: { type: 'array', items: { type: 'string', minLength: 1 } },
    headers: {
      type: 'array',
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 }, value: { type: 'string', writeOnly: true } } },
    },
    extra: { type: 'object', additionalProperties: { type: 'string' } },
    either: { anyOf: [{ type: 'string' }, { type: 'object', properties: { a: { type: 'integer' } } }] },
  },
} as ConfigSchema;

const stored = {
  url: 'https://x.test/in',
  secret: 'sk-live-SECRET1',
  auth: { user: 'me', token: 'tok-SECRET2' },
  headers: [
    { name: 'A', value: 'va-SECRET3' },
    { name: 'B', value: 'vb-SECRET4' },
  ],
  tags: ['t1', 't2'],
  extra: { k: 'v' },
};

function form(entries: [string, string][]): URLSearchParams {
  return new URLSearchParams(entries);
}

// The fields a browser would submit for the rendered form, as is (inputs, selects, textareas, hidden).
function submitted(markup: string, overrides: Record<string, string> = {}): URLSearchParams {
  const params = new URLSearchParams();
  const body = markup.replace(/<template[\s\S]*?<\/template>/g, '');
  const decode = (text: string) => text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  for (const match of body.matchAll(/<input\b([^>]*)>|<(textarea|select)\b([^>]*)>([\s\S]*?)<\/\2>/g)) {
    const tag = match[2] ?? 'input';
    const attributes = match[1] ?? match[3] ?? '';
    const inner = match[4] ?? '';
    const name = /\bname="([^"]*)"/.exec(attributes)?.[1];
    if (!name) continue;
    const key = decode(name);
    let value = decode(/\bvalue="([^"]*)"/.exec(attributes)?.[1] ?? '');
    if (tag === 'input' && /type="checkbox"/.test(attributes) && !/\bchecked\b/.test(attributes)) continue;
    if (tag === 'textarea') value = decode(inner);
    if (tag === 'select') value = decode(/<option value="([^"]*)" selected>/.exec(inner)?.[1] ?? /<option value="([^"]*)"/.exec(inner)?.[1] ?? '');
    params.append(key, Object.hasOwn(overrides, key) ? (overrides[key] as string) : value);
  }
  return params;
}

describe('renderConfigFields', () => {
  const markup = renderConfigFields(schema, stored).value;

  it('escapes hostile titles, descriptions and values', () => {
    const hostile = renderConfigFields(
      { type: 'object', properties: { '"><img src=x onerror=alert(1)>': { type: 'string', description: '</script><script>alert(2)</script>' } } } as ConfigSchema,
      { '"><img src=x onerror=alert(1)>': '"><svg onload=alert(3)>' },
    ).value;
    expect(hostile).not.toMatch(/<img|<svg|<script>alert/);
    expect(hostile).toContain('&quot;&gt;&lt;svg onload=alert(3)&gt;');
    // The schema data block cannot be ended by a string inside it.
    const block = /<script type="application\/json" data-config-schema[^>]*>([\s\S]*?)<\/script>/.exec(hostile)?.[1] ?? '';
    expect(block).not.toContain('<');
    expect(JSON.parse(block).properties['"><img src=x onerror=alert(1)>'].description).toBe('</script><script>alert(2)</script>');
    expect(markup).toContain('Endpoint &lt;b&gt;URL&lt;/b&gt;');
    expect(markup).not.toContain('<script>alert(1)');
  });

  it('never renders a secret or the mask, and says whether one is stored', () => {
    for (const secret of ['sk-live-SECRET1', 'tok-SECRET2', 'va-SECRET3', 'vb-SECRET4', '********']) expect(markup).not.toContain(secret);
    const secretInput = /<input type="password"[^>]*name="config.secret"[^>]*>/.exec(markup)?.[0] ?? '';
    expect(secretInput).toContain('autocomplete="off"');
    expect(secretInput).toContain('value=""');
    expect(secretInput).toContain('placeholder="unchanged (leave empty to keep)"');
    const unset = renderConfigFields(schema, {}).value;
    expect(/<input type="password"[^>]*name="config.secret"[^>]*>/.exec(unset)?.[0]).toContain('placeholder="not set"');
  });

  it('renders each type as its control, nested objects and arrays of objects as fields', () => {
    expect(markup).toMatch(/<input type="url" id="cf-config.url" name="config.url" aria-describedby="cf-config.url-help cf-config.url-error" aria-required="true"/);
    expect(markup).toContain('<input type="email"');
    expect(markup).toMatch(/<input type="number" min="0" max="10" step="1" inputmode="numeric" id="cf-config.retries"/);
    expect(markup).toContain('<input type="hidden" name="config.enabled" value="false"><input type="checkbox" value="true" id="cf-config.enabled"');
    expect(markup).toContain('<option value="fast">fast</option>');
    expect(markup).toContain('<textarea rows="4" spellcheck="false" id="cf-config.notes"');
    expect(markup).toMatch(/<fieldset class="field-group" id="cf-config.auth"[^>]*><legend>Auth<\/legend>/);
    expect(markup).toContain('name="config.auth.user"');
    expect(markup).toContain('name="config.headers.1.name" aria-describedby="cf-config.headers.1.name-error" aria-required="true" value="B"');
    expect(markup).toContain('value="remove:config.headers.1"');
    expect(markup).toContain('value="add:config.headers"');
    expect(markup).toContain('<template data-row-template="config.headers">');
    expect(markup).toContain('name="config.tags.1" aria-describedby="cf-config.tags.1-error" value="t2"');
    // Maps and anyOf fall back to JSON, for that sub-tree only.
    expect(markup).toMatch(/<textarea rows="5" spellcheck="false" class="json" data-json id="cf-config.extra"[^>]*>\{\n {2}&quot;k&quot;: &quot;v&quot;\n\}<\/textarea>/);
    expect(markup).toContain('id="cf-config.either"');
  });

  it('renders errors at their fields and in a summary', () => {
    const withErrors = renderConfigFields(schema, stored, { errors: [{ path: 'config.headers.1.name', message: 'is <required>' }, { path: 'config.extra.k', message: 'must be string' }] }).value;
    expect(withErrors).toMatch(/name="config.headers.1.name"[^>]*aria-invalid="true"/);
    expect(withErrors).toContain('<p class="field-error" id="cf-config.headers.1.name-error" data-error-for="config.headers.1.name">is &lt;required&gt;</p>');
    // Inside a JSON field: shown at that field, with the rest of the path.
    expect(withErrors).toContain('data-error-for="config.extra">k must be string</p>');
    expect(withErrors).toMatch(/<div class="form-errors" data-config-errors role="alert" tabindex="-1"><p class="form-errors-title">2 problems to fix:<\/p><ul><li><a href="#cf-config.headers.1.name">headers.1.name<\/a>: is &lt;required&gt;<\/li>/);
  });

  it('renders what a PostHog plugin converts to', () => {
    const converted = convertPostHogManifest(
      { name: 'ph', config: [{ key: 'apiKey', name: 'API key', type: 'string', secret: true, required: true }, { key: 'rules', type: 'json' }, { key: 'mode', type: 'choice', choices: ['a', 'b'] }, { key: 'file', type: 'attachment' }] },
      { version: '1.0.0' },
    ).value;
    const rendered = renderConfigFields(converted!.config, {}).value;
    expect(rendered).toMatch(/<input type="password" autocomplete="off" value="" id="cf-config.apiKey"/);
    expect(rendered).toContain('<textarea rows="4" spellcheck="false" id="cf-config.rules"');
    expect(rendered).toContain('<option value="b">b</option>');
    expect(rendered).toContain('name="config.file.contents"');
  });
});

describe('readConfigForm', () => {
  it('reads the rendered form back to the stored config, secrets kept when left empty', () => {
    const { value, errors } = readConfigForm(schema, submitted(renderConfigFields(schema, stored).value), stored);
    expect(errors).toEqual([]);
    expect(value).toEqual({ ...stored, retries: 3, enabled: true });
  });

  it('coerces per the schema, replaces typed secrets, omits empty optional fields', () => {
    const params = submitted(renderConfigFields(schema, stored).value, { 'config.secret': 'new-secret', 'config.retries': '7', 'config.ratio': '0.5', 'config.mode': 'safe', 'config.auth.user': '', 'config.email': '' });
    params.delete('config.enabled');
    params.append('config.enabled', 'false');
    const { value, errors } = readConfigForm(schema, params, stored);
    expect(errors).toEqual([]);
    expect(value).toMatchObject({ secret: 'new-secret', retries: 7, ratio: 0.5, mode: 'safe', enabled: false, auth: { token: 'tok-SECRET2' } });
    expect(value).not.toHaveProperty('email');
    expect(value.auth).not.toHaveProperty('user');
  });

  it('keeps each row its own secret when a row before it was removed', () => {
    const params = submitted(renderConfigFields(schema, stored).value);
    for (const key of [...params.keys()]) if (key.includes('headers.0')) params.delete(key);
    // Renumbered as the browser script does: row 1 (stored index 1) is now row 0.
    const renumbered = new URLSearchParams([...params].map(([key, v]): [string, string] => [key.replace('headers.1', 'headers.0'), v]));
    const { value } = readConfigForm(schema, renumbered, stored);
    expect(value.headers).toEqual([{ name: 'B', value: 'vb-SECRET4' }]);
  });

  it('answers errors with field paths, and the submitted config to render again', () => {
    const { value, errors } = readConfigForm(
      schema,
      form([['config.url', 'not a url'], ['config.retries', 'x'], ['_row.config.headers.0', ''], ['config.headers.0.name', ''], ['config.extra', '{bad'], ['config.secret', '']]),
      {},
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'config.extra', message: expect.stringMatching(/^must be valid JSON/) },
        { path: 'config.secret', message: 'is required' },
        { path: 'config.url', message: 'must match format "uri"' },
        { path: 'config.retries', message: 'must be integer' },
        { path: 'config.headers.0.name', message: 'is required' },
      ]),
    );
    expect(errors).toHaveLength(5);
    expect(value).toMatchObject({ url: 'not a url', retries: 'x', headers: [{}] });
  });

  it('parses JSON fallback fields and restores masked secrets inside them', () => {
    const mapSchema = { type: 'object', properties: { headers: { type: 'object', additionalProperties: { type: 'string', writeOnly: true } } } } as ConfigSchema;
    const rendered = renderConfigFields(mapSchema, { headers: { Authorization: 'Bearer SECRET5' } }).value;
    expect(rendered).not.toContain('SECRET5');
    const { value, errors } = readConfigForm(mapSchema, form([['config.headers', '{"Authorization":"********","X-New":"n"}']]), { headers: { Authorization: 'Bearer SECRET5' } });
    expect(errors).toEqual([]);
    expect(value).toEqual({ headers: { Authorization: 'Bearer SECRET5', 'X-New': 'n' } });
  });
});

describe('applyFormAction', () => {
  it('saves on the save button', () => {
    expect(applyFormAction(schema, form([['_form', 'save']]))).toEqual({ action: 'save' });
    expect(applyFormAction(schema, form([]))).toEqual({ action: 'save' });
  });

  it('adds and removes rows without JavaScript, and a later save keeps the right secrets', () => {
    const rendered = renderConfigFields(schema, stored).value;
    const added = applyFormAction(schema, withAction(submitted(rendered), 'add:config.headers'), stored);
    expect(added.action).toBe('edit');
    if (added.action !== 'edit') return;
    expect(added.config.headers).toEqual([{ name: 'A', value: 'va-SECRET3' }, { name: 'B', value: 'vb-SECRET4' }, {}]);
    const again = renderConfigFields(schema, added.config).value;
    expect(again).toContain('name="config.headers.2.name"');
    const removed = applyFormAction(schema, withAction(submitted(again), 'remove:config.headers.0'), stored);
    if (removed.action !== 'edit') throw new Error('expected edit');
    expect(removed.config.headers).toEqual([{ name: 'B', value: 'vb-SECRET4' }, {}]);
    const final = submitted(renderConfigFields(schema, removed.config).value, { 'config.headers.1.name': 'C' });
    const saved = readConfigForm(schema, final, stored);
    expect(saved.errors).toEqual([]);
    expect(saved.value.headers).toEqual([{ name: 'B', value: 'vb-SECRET4' }, { name: 'C' }]);
    const tagsAdded = applyFormAction(schema, withAction(submitted(rendered), 'add:config.tags'), stored);
    if (tagsAdded.action !== 'edit') throw new Error('expected edit');
    expect(tagsAdded.config.tags).toEqual(['t1', 't2', '']);
  });
});

function withAction(params: URLSearchParams, action: string): URLSearchParams {
  params.set('_form', action);
  return params;
}

describe('configValidatorScript', () => {
  it('registers a validator factory without eval in the page', () => {
    const script = configValidatorScript(schema);
    expect(script).toMatch(/^\(globalThis.__pluglineConfigValidators \?\?= \{\}\)\["[A-Za-z0-9_-]{16}"\] = function \(require, formats\) \{/);
    expect(script).not.toMatch(/new Function|\beval\(/);
  });

  it('runs a hostile schema\'s validator as data only: nothing in the schema becomes code', () => {
    // Every place a schema's text lands in the generated code: keys, const, enum, default, pattern, format, $comment, title.
    const payload = `"]);globalThis.__pwned=1;//</script><script>globalThis.__pwned=2</script>\u2028\`\${globalThis.__pwned=3}`;
    const hostile = {
      type: 'object',
      $comment: payload,
      title: payload,
      properties: {
        [payload]: { type: 'string', const: payload, default: payload, description: payload },
        choice: { enum: [payload, 'ok'] },
        pattern: { type: 'string', pattern: '^[a-z"\\]);]*$' },
      },
      required: [payload],
    } as unknown as ConfigSchema;
    const script = configValidatorScript(hostile);
    const sandbox: Record<string, unknown> = {};
    vm.runInNewContext(script, sandbox);
    expect(sandbox.__pwned).toBeUndefined();
    const factories = sandbox.__pluglineConfigValidators as Record<string, (require: unknown, formats: unknown) => unknown>;
    const factory = Object.values(factories)[0]!;
    const validate = factory(configValidatorRequire, configValidatorFormats) as ((data: unknown) => boolean) & { errors?: unknown[] };
    expect(sandbox.__pwned).toBeUndefined();
    expect(validate({ [payload]: payload, choice: 'ok', pattern: 'abc' })).toBe(true);
    expect(validate({ [payload]: 'other', choice: 'nope' })).toBe(false);
    expect(sandbox.__pwned).toBeUndefined();
  });
});
