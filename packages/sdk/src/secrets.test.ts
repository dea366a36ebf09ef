import { describe, expect, it } from 'vitest';
import { validateConfig } from './manifest.js';
import type { ConfigSchema } from './plugin.js';
import { SECRET_MASK, redactConfig, restoreSecrets, scrubSecrets, secretValues } from './secrets.js';

// One schema with a secret in every place JSON Schema can hide one.
const schema = {
  type: 'object',
  $defs: {
    credential: { type: 'object', properties: { user: { type: 'string' }, password: { type: 'string', writeOnly: true } } },
    token: { type: 'string', writeOnly: true },
  },
  properties: {
    apiKey: { type: 'string', writeOnly: true },
    mode: { type: 'string' },
    nested: { type: 'object', properties: { deeper: { type: 'object', properties: { secret: { type: 'string', writeOnly: true }, plain: { type: 'string' } } } } },
    list: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, value: { type: 'string', writeOnly: true } } } },
    tuple: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'string', writeOnly: true }] },
    byRef: { $ref: '#/$defs/credential' },
    tokenRef: { $ref: '#/$defs/token' },
    headers: { type: 'object', additionalProperties: { type: 'string', writeOnly: true } },
    patterned: { type: 'object', properties: { label: { type: 'string' } }, patternProperties: { '^key_': { type: 'string', writeOnly: true } } },
    either: { anyOf: [{ type: 'string' }, { type: 'object', properties: { key: { type: 'string', writeOnly: true } } }] },
    oneOfAuth: { oneOf: [{ type: 'object', properties: { kind: { const: 'basic' }, password: { type: 'string', writeOnly: true } } }, { type: 'object', properties: { kind: { const: 'none' } } }] },
    allOfAuth: { allOf: [{ type: 'object', properties: { id: { type: 'string' } } }, { type: 'object', properties: { key: { type: 'string', writeOnly: true } } }] },
    conditional: {
      type: 'object',
      if: { properties: { kind: { const: 'token' } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { properties: { token: { type: 'string', writeOnly: true } } },
      else: { properties: { password: { type: 'string', writeOnly: true } } },
    },
    wholeObject: { type: 'object', writeOnly: true },
  },
} as const satisfies ConfigSchema;

const config = {
  apiKey: 'top-level-secret',
  mode: 'fast',
  nested: { deeper: { secret: 'nested-secret', plain: 'visible' } },
  list: [
    { name: 'a', value: 'list-secret-1' },
    { name: 'b', value: 'list-secret-2' },
  ],
  tuple: ['visible-first', 'tuple-secret'],
  byRef: { user: 'alice', password: 'ref-secret' },
  tokenRef: 'ref-token-secret',
  headers: { Authorization: 'Bearer header-secret', 'X-Other': 'other-header-secret' },
  patterned: { label: 'visible-label', key_one: 'pattern-secret' },
  either: { key: 'anyof-secret' },
  oneOfAuth: { kind: 'basic', password: 'oneof-secret' },
  allOfAuth: { id: 'visible-id', key: 'allof-secret' },
  conditional: { kind: 'token', token: 'then-secret', password: 'else-secret' },
  wholeObject: { any: 'thing-secret', deep: { x: 'deep-thing-secret' } },
};

describe('redactConfig', () => {
  it('masks writeOnly values at every depth and keeps everything else', () => {
    const redacted = redactConfig(schema, config);
    expect(redacted).toEqual({
      apiKey: SECRET_MASK,
      mode: 'fast',
      nested: { deeper: { secret: SECRET_MASK, plain: 'visible' } },
      list: [
        { name: 'a', value: SECRET_MASK },
        { name: 'b', value: SECRET_MASK },
      ],
      tuple: ['visible-first', SECRET_MASK],
      byRef: { user: 'alice', password: SECRET_MASK },
      tokenRef: SECRET_MASK,
      headers: { Authorization: SECRET_MASK, 'X-Other': SECRET_MASK },
      patterned: { label: 'visible-label', key_one: SECRET_MASK },
      either: { key: SECRET_MASK },
      oneOfAuth: { kind: 'basic', password: SECRET_MASK },
      allOfAuth: { id: 'visible-id', key: SECRET_MASK },
      conditional: { kind: 'token', token: SECRET_MASK, password: SECRET_MASK },
      wholeObject: SECRET_MASK,
    });
    expect(JSON.stringify(redacted)).not.toMatch(/-secret/);
    // The input is not mutated.
    expect(config.nested.deeper.secret).toBe('nested-secret');
  });

  it('masks through a recursive $ref and a $ref to the root without looping', () => {
    const tree = {
      type: 'object',
      $defs: { node: { type: 'object', properties: { key: { type: 'string', writeOnly: true }, child: { $ref: '#/$defs/node' } } } },
      properties: { root: { $ref: '#/$defs/node' }, self: { $ref: '#' } },
    } as const satisfies ConfigSchema;
    const value = { root: { key: 'k1', child: { key: 'k2', child: { key: 'k3' } } }, self: { root: { key: 'k4' } } };
    expect(redactConfig(tree, value)).toEqual({ root: { key: SECRET_MASK, child: { key: SECRET_MASK, child: { key: SECRET_MASK } } }, self: { root: { key: SECRET_MASK } } });
  });

  it('leaves empty secrets empty, so "not set" stays visible', () => {
    expect(redactConfig(schema, { apiKey: '', nested: { deeper: {} } })).toEqual({ apiKey: '', nested: { deeper: {} } });
  });
});

describe('restoreSecrets', () => {
  it('gives every masked secret its stored value back at every depth and takes the rest as sent', () => {
    const sentBack = structuredClone(redactConfig(schema, config)) as Record<string, unknown> & typeof config;
    sentBack.mode = 'slow';
    (sentBack.nested.deeper as Record<string, unknown>).plain = 'changed';
    const restored = restoreSecrets(schema, sentBack, config);
    expect(restored).toEqual({ ...config, mode: 'slow', nested: { deeper: { secret: 'nested-secret', plain: 'changed' } } });
  });

  it('keeps a new secret, and never restores a mask at a location that is not secret', () => {
    const restored = restoreSecrets(schema, { apiKey: 'new-secret', mode: SECRET_MASK, headers: { Authorization: SECRET_MASK, New: SECRET_MASK } }, config);
    expect(restored).toEqual({ apiKey: 'new-secret', mode: SECRET_MASK, headers: { Authorization: 'Bearer header-secret', New: SECRET_MASK } });
  });
});

describe('secretValues and scrubSecrets', () => {
  it('lists the secret values at every depth and removes them from free text', () => {
    const secrets = secretValues(schema, config);
    expect(secrets).toEqual(expect.arrayContaining(['top-level-secret', 'nested-secret', 'list-secret-2', 'tuple-secret', 'ref-secret', 'Bearer header-secret', 'pattern-secret', 'then-secret', 'deep-thing-secret']));
    expect(secrets).not.toContain('visible');
    expect(scrubSecrets('failed with Bearer header-secret and nested-secret', secrets)).toBe(`failed with ${SECRET_MASK} and ${SECRET_MASK}`);
  });
});

describe('validateConfig errors', () => {
  it('never echo a nested secret value', () => {
    const strict = {
      type: 'object',
      properties: { auth: { type: 'object', properties: { token: { type: 'string', writeOnly: true, pattern: '^tok_', maxLength: 12 } } } },
    } as const satisfies ConfigSchema;
    const { errors } = validateConfig(strict, { auth: { token: 'leaked-secret-value-123' } });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).not.toContain('leaked-secret-value-123');
  });
});
