import { describe, expect, it } from 'vitest';
import { manifestSchema, validateConfig, validateManifest } from './manifest.js';
import type { ConfigSchema } from './plugin.js';

const valid = {
  name: '@acme/geoip',
  version: '1.2.3',
  description: 'Adds GeoIP properties',
  main: 'dist/index.js',
  sdk: '^0.1.0',
  config: { type: 'object', properties: { apiKey: { type: 'string', writeOnly: true } } },
  keywords: ['geo'],
};

describe('validateManifest', () => {
  it('validates manifests whose config schemas share an $id, again and again in one process', () => {
    const manifest = (extra: Record<string, unknown>) => ({
      name: 'with-id',
      version: '1.0.0',
      main: 'index.js',
      sdk: '^0.1.0',
      config: { $id: 'https://example.com/plugin-config', type: 'object', properties: { n: { type: 'integer', default: 1 } }, ...extra },
    });
    for (let round = 0; round < 3; round++) expect(validateManifest(manifest({ title: `round ${round}` })).errors).toEqual([]);
    // Two different schema objects with one $id each compile for config validation too.
    expect(validateConfig(manifest({}).config as ConfigSchema, {}).value).toEqual({ n: 1 });
    expect(validateConfig(manifest({ description: 'other' }).config as ConfigSchema, { n: 2 }).value).toEqual({ n: 2 });
  });

  it('accepts a valid manifest and returns it', () => {
    expect(validateManifest(valid)).toEqual({ value: valid, errors: [] });
  });

  it.each([
    [{ ...valid, name: 'Bad Name' }, 'name: must match pattern'],
    [{ ...valid, name: '../evil' }, 'name: must match pattern'],
    [{ ...valid, version: '1.2' }, 'version: must match format "semver"'],
    [{ ...valid, sdk: 'not a range!' }, 'sdk: must match format "semver-range"'],
    [{ ...valid, main: '../outside.js' }, 'main: must match pattern'],
    [{ ...valid, main: '/abs.js' }, 'main: must match pattern'],
    [{ ...valid, config: { type: 'string' } }, 'config.type: must be equal to constant'],
    [{ ...valid, config: { type: 'object', properties: { n: { type: 'nope' } } } }, 'config: properties/n/type'],
    [{ ...valid, surprise: true }, 'surprise: is not allowed (unknown key)'],
    [{ name: 'x' }, 'version: is required'],
  ])('rejects %j with a path: message error', (input, expected) => {
    const { value, errors } = validateManifest(input);
    expect(value).toBeUndefined();
    expect(errors.join('\n')).toContain(expected);
  });

  it('rejects things that are not objects', () => {
    expect(validateManifest(null).errors).toEqual(['(root): must be object']);
    expect(validateManifest('plugin').errors).toEqual(['(root): must be object']);
  });
});

describe('manifest JSON Schema', () => {
  it('is published as manifest.schema.json, generated from code', async () => {
    await expect(`${JSON.stringify(manifestSchema, null, 2)}\n`).toMatchFileSnapshot('../manifest.schema.json');
  });
});
