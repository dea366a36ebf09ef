import { describe, expect, it } from 'vitest';
import { getAjv, validateConfig, validateConfigSchema, validateManifest } from './manifest.js';
import type { ConfigSchema } from './plugin.js';
import { re2RegExp, schemaLimitErrors, schemaLimits, unsupportedPatternErrors } from './schema-limits.js';

const manifest = (config: unknown) => ({ name: 'hostile', version: '1.0.0', main: 'index.js', sdk: '^0.1.0', config });

function nested(depth: number): Record<string, unknown> {
  let schema: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < depth; i++) schema = { type: 'object', properties: { a: schema } };
  return schema;
}

describe('config schemas from untrusted plugins', () => {
  it('runs a catastrophic pattern in linear time (RE2): "^(a+)+$" against 60 characters', () => {
    // With JavaScript's backtracking engine this takes about 2^60 steps: the test would never end.
    const schema = { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$', default: `${'a'.repeat(60)}!` } } } as ConfigSchema;
    expect(validateConfigSchema(schema).errors).toEqual([]);
    const defaulted = validateConfig(schema, {});
    expect(defaulted.errors).toEqual(['config.s: must match pattern "^(a+)+$"']);
    expect(validateConfig(schema, { s: 'aaaa' }).errors).toEqual([]);
    expect(validateConfig({ type: 'object', patternProperties: { '^(x+)+$': { type: 'integer' } } } as ConfigSchema, { [`${'x'.repeat(60)}`]: 'no' }).errors).toHaveLength(1);
    expect(re2RegExp('^(a+)+$', 'u').test(`${'a'.repeat(100)}!`)).toBe(false);
  });

  it('keeps each pattern its own across schemas compiled by one ajv instance', () => {
    const one = { type: 'object', properties: { t: { type: 'string', pattern: '^[A-Za-z_]$' } } } as ConfigSchema;
    const two = { type: 'object', properties: { t: { type: 'string', pattern: '^[a-z_]{0,62}$' } } } as ConfigSchema;
    expect(validateConfig(one, { t: 'a' }).errors).toEqual([]);
    expect(validateConfig(two, { t: 'abc' }).errors).toEqual([]);
    expect(validateConfig(one, { t: 'abc' }).errors).toHaveLength(1);
  });

  it('refuses patterns RE2 cannot run (backreferences, lookaround) with a clear error', () => {
    const schema = { type: 'object', properties: { a: { type: 'string', pattern: '(a)\\1' }, b: { type: 'string', pattern: '^(?=x)x$' } }, patternProperties: { '(?!k)': {} } };
    const { errors } = validateConfigSchema(schema);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/^properties\/a\/pattern: "\(a\)\\\\1" cannot run in linear time \(RE2/);
    expect(errors.join('\n')).toMatch(/properties\/b\/pattern/);
    expect(errors.join('\n')).toMatch(/patternProperties: "\(\?!k\)"/);
    expect(validateManifest(manifest(schema)).errors[0]).toMatch(/^config: properties\/a\/pattern/);
    expect(unsupportedPatternErrors({ type: 'object', properties: { ok: { pattern: '^[a-z0-9._~-]+(?:@\\d+)?$' } } })).toEqual([]);
  });

  it('refuses a schema with 100,000 properties before compiling it', () => {
    const schema = { type: 'object', properties: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`p${i}`, { type: 'string' }])) };
    const { errors } = validateManifest(manifest(schema));
    expect(errors).toContain('config schema (root): has 100000 properties (the limit is 100)');
    // Without the limit this compiled for ~13 s; refused, it costs one walk over the object.
  });

  it('refuses a deeply nested schema (no stack overflow) and a huge one', () => {
    expect(validateManifest(manifest(nested(100_000))).errors).toEqual([`config schema (root): is nested deeper than ${schemaLimits.maxDepth} levels`]);
    expect(validateConfigSchema(nested(100)).errors).toEqual([`(root): is nested deeper than ${schemaLimits.maxDepth} levels`]);
    expect(validateConfigSchema(nested(10)).errors).toEqual([]);
    const big = { type: 'object', description: 'x'.repeat(schemaLimits.maxChars) };
    expect(schemaLimitErrors(big)[0]).toMatch(/characters of JSON \(the limit is 65536\)/);
    expect(validateConfig(big as ConfigSchema, {}).errors[0]).toMatch(/^config schema \(root\): is \d+ characters/);
  });

  it('refuses many subschemas and many patterns (what compile time follows)', () => {
    const anyOf = { type: 'object', properties: { a: { anyOf: Array.from({ length: 3000 }, () => ({ type: 'string' })) } } };
    expect(validateConfigSchema(anyOf).errors).toEqual([`(root): has 3004 objects and arrays (the limit is ${schemaLimits.maxNodes})`]);
    const patterns = { type: 'object', properties: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`p${i}`, { type: 'string', pattern: `^x${i}$` }])) };
    expect(validateConfigSchema(patterns).errors).toEqual([`(root): has 30 patterns (the limit is ${schemaLimits.maxPatterns})`]);
  });

  it('does not keep compiled validators in ajv for schemas it only checked', () => {
    const ajv = getAjv() as unknown as { _cache: Map<unknown, unknown> };
    const before = ajv._cache.size;
    for (let i = 0; i < 50; i++) expect(validateConfigSchema({ type: 'object', properties: { [`k${i}`]: { type: 'string', pattern: `^k${i}$` } } }).errors).toEqual([]);
    expect(ajv._cache.size).toBeLessThanOrEqual(before);
  });
});
