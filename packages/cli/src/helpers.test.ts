import { describe, expect, it } from 'vitest';
import { normalizeRegistryUrl } from './config.js';
import { formatError } from './output.js';
import { configRows, parseNameSpec } from './registry-commands.js';
import { applyConfigChanges } from './runtime-commands.js';
import { tarballFileName } from './tarball.js';

describe('parseNameSpec', () => {
  it('splits plain and scoped names from their spec, defaulting to latest', () => {
    expect(parseNameSpec('geoip')).toEqual({ name: 'geoip', spec: 'latest' });
    expect(parseNameSpec('geoip@^1.2.0')).toEqual({ name: 'geoip', spec: '^1.2.0' });
    expect(parseNameSpec('@acme/geoip')).toEqual({ name: '@acme/geoip', spec: 'latest' });
    expect(parseNameSpec('@acme/geoip@beta')).toEqual({ name: '@acme/geoip', spec: 'beta' });
    expect(parseNameSpec('geoip@', '*')).toEqual({ name: 'geoip', spec: '*' });
  });
});

describe('applyConfigChanges', () => {
  it('parses JSON values, keeps other text as strings and removes unset keys', () => {
    const next = applyConfigChanges({ keep: 1, drop: 2 }, ['n=3', 'on=true', 'list=["a"]', 'greeting=hi there', 's="007"', 'eq=a=b'], ['drop']);
    expect(next).toEqual({ keep: 1, n: 3, on: true, list: ['a'], greeting: 'hi there', s: '007', eq: 'a=b' });
  });

  it('rejects an assignment without a key as a usage error', () => {
    expect(() => applyConfigChanges({}, ['=3'])).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    expect(() => applyConfigChanges({}, ['novalue'])).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });
});

describe('configRows', () => {
  it('describes types, defaults, required keys and marks writeOnly keys secret', () => {
    const rows = configRows({
      type: 'object',
      properties: {
        apiKey: { type: 'string', writeOnly: true, description: 'The key' },
        mode: { enum: ['a', 'b'], default: 'a' },
        ids: { type: 'array', items: { type: 'integer' }, title: 'Ids' },
      },
      required: ['apiKey'],
    });
    expect(rows).toEqual([
      ['apiKey', 'string', '', 'yes', 'secret', 'The key'],
      ['mode', '"a" | "b"', '"a"', '', '', ''],
      ['ids', 'integer[]', '', '', '', 'Ids'],
    ]);
  });
});

describe('small helpers', () => {
  it('normalizes registry URLs and rejects non-URLs as usage errors', () => {
    expect(normalizeRegistryUrl('http://localhost:7400/')).toBe('http://localhost:7400');
    expect(() => normalizeRegistryUrl('ftp://x')).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it('formats any error as one coded line', () => {
    expect(formatError(Object.assign(new Error('a\n  b'), { code: 'ERR_CONFIG_INVALID' }))).toBe('error ERR_CONFIG_INVALID: a b');
    expect(formatError(new Error('boom'))).toBe('error ERR_INTERNAL: boom');
  });

  it('names tarballs like npm', () => {
    expect(tarballFileName('@acme/geoip', '1.0.0')).toBe('acme-geoip-1.0.0.tgz');
  });
});
