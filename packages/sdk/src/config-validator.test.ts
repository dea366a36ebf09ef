import { describe, expect, it } from 'vitest';
import { configErrorDetails } from './config-errors.js';
import { configValidatorFormats, configValidatorRequire } from './config-validator-runtime.js';
import { configValidatorSource, formatAjvErrors, validateConfig, validateConfigDetailed } from './manifest.js';
import type { ConfigSchema } from './plugin.js';

const schema = {
  type: 'object',
  required: ['url'],
  properties: {
    url: { type: 'string', format: 'uri', pattern: '^https?://' },
    retries: { type: 'integer', minimum: 0, default: 3 },
    mode: { enum: ['a', 'b'] },
    headers: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 }, 'x.y': { type: 'string' } } } },
  },
} as ConfigSchema;

// What a page does with the served script (there as a <script src>; here through Function).
function loadStandalone(source: string): (data: unknown) => boolean {
  const factory = new Function('require', 'formats', `const module = { exports: {} }; const exports = module.exports;\n${source}\nreturn module.exports;`);
  return factory(configValidatorRequire, configValidatorFormats) as (data: unknown) => boolean;
}

describe('validateConfigDetailed', () => {
  it('locates each error by its segments, with the missing key for required', () => {
    const result = validateConfigDetailed(schema, { url: 'ftp://x', retries: -1, mode: 'c', headers: [{ name: 'ok' }, {}], extra: 1 });
    expect(result.value).toBeUndefined();
    expect(result.errors.map(({ path, keyword, message }) => ({ path, keyword, message }))).toEqual([
      { path: 'config.extra', keyword: 'additionalProperties', message: 'is not allowed (unknown key)' },
      { path: 'config.url', keyword: 'pattern', message: 'must match pattern "^https?://"' },
      { path: 'config.retries', keyword: 'minimum', message: 'must be >= 0' },
      { path: 'config.mode', keyword: 'enum', message: 'must be one of "a", "b"' },
      { path: 'config.headers.1.name', keyword: 'required', message: 'is required' },
    ]);
    expect(result.errors.find((error) => error.keyword === 'required')?.segments).toEqual(['headers', '1', 'name']);
  });

  it('keeps keys with dots and slashes as one segment', () => {
    const details = configErrorDetails([{ instancePath: '/headers/0/x.y/a~1b', keyword: 'type', params: {}, schemaPath: '', message: 'must be string' }], 'config');
    expect(details[0]?.segments).toEqual(['headers', '0', 'x.y', 'a/b']);
  });

  it('agrees with validateConfig and formatAjvErrors', () => {
    const input = { retries: 'x' };
    const strings = validateConfig(schema, input).errors;
    expect(strings).toEqual(validateConfigDetailed(schema, input).errors.map((error) => `${error.path}: ${error.message}`));
    expect(formatAjvErrors([{ instancePath: '', keyword: 'required', params: { missingProperty: 'a' }, schemaPath: '' }])).toEqual(['a: is required']);
    expect(validateConfigDetailed(schema, { url: 'https://x.test' })).toEqual({ value: { url: 'https://x.test', retries: 3 }, errors: [] });
  });
});

describe('configValidatorSource', () => {
  it('is standalone code that reports the same errors as the server, with RE2 patterns, formats and defaults', () => {
    const validate = loadStandalone(configValidatorSource(schema)) as ((data: unknown) => boolean) & { errors?: never };
    for (const input of [{ url: 'ftp://x', retries: -1, mode: 'c', headers: [{}], extra: 1 }, { url: 'https://' }, { url: 'not a uri at all' }, { retries: 1.5 }]) {
      const copy = structuredClone(input);
      const ok = validate(copy);
      const server = validateConfigDetailed(schema, input);
      expect(ok).toBe(server.errors.length === 0);
      expect(configErrorDetails((validate as unknown as { errors: never }).errors, 'config')).toEqual(server.errors);
    }
    const valid: Record<string, unknown> = { url: 'https://x.test' };
    expect(validate(valid)).toBe(true);
    expect(valid).toEqual({ url: 'https://x.test', retries: 3 });
  });

  it('needs only modules the browser runtime provides, and refuses other ones', () => {
    const source = configValidatorSource({ type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$', maxLength: 5 }, b: { const: { x: 1 } }, c: { type: 'array', uniqueItems: true } } });
    const required = [...source.matchAll(/require\("([^"]+)"\)/g)].map((match) => match[1]);
    expect(new Set(required)).toEqual(new Set(['re2js', 'ajv/dist/runtime/ucs2length', 'ajv/dist/runtime/equal']));
    const validate = loadStandalone(source);
    expect(validate({ a: `${'a'.repeat(4)}`, b: { x: 1 }, c: [1, 2] })).toBe(true);
    expect(validate({ a: 'aaaa!', b: { x: 2 }, c: [1, 1] })).toBe(false);
    expect(() => configValidatorRequire('fs')).toThrow(/not available/);
  });

  it('refuses a schema past the limits', () => {
    const huge = { type: 'object', properties: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, { type: 'string' }])) } as ConfigSchema;
    expect(() => configValidatorSource(huge)).toThrow(/properties/);
  });
});
