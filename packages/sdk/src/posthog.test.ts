import { describe, expect, it } from 'vitest';
import { validateConfig } from './manifest.js';
import { attachmentKeys, convertPostHogManifest, isPostHogManifest, slugifyPluginName } from './posthog.js';

const posthogManifest = {
  name: 'Currency Normalizer',
  url: 'https://github.com/example/currency-normalizer',
  description: 'Normalizes amounts',
  main: 'index.ts',
  posthogVersion: '>= 1.25.0',
  config: [
    { markdown: 'Get an API key at example.com' },
    { key: 'apiKey', name: 'API key', type: 'string', required: true, secret: true, hint: 'Your key' },
    { key: 'mode', name: 'Mode', type: 'choice', choices: ['strict', 'lenient'], default: 'lenient' },
    { key: 'batchSize', name: 'Batch size', type: 'string', default: '10', order: 5 },
    { key: 'mapping', name: 'Mapping', type: 'json', default: '{}' },
    { key: 'rates', name: 'Rates file', type: 'attachment' },
    { key: 'strictField', type: 'string', required_if: [['mode', 'strict'], ['apiKey']] },
    { key: 'lenientHint', type: 'string', visible_if: [['mode', 'lenient']] },
  ],
};

describe('PostHog plugin.json conversion', () => {
  it('recognises PostHog manifests', () => {
    expect(isPostHogManifest(posthogManifest)).toBe(true);
    expect(isPostHogManifest({ name: 'x', version: '1.0.0', sdk: '^0.1.0', main: 'a.js', config: { type: 'object' } })).toBe(false);
  });

  it('converts fields to an equivalent JSON Schema, keeping values as strings', () => {
    const { value, errors } = convertPostHogManifest(posthogManifest, { version: '1.2.0' });
    expect(errors).toEqual([]);
    expect(value?.name).toBe('currency-normalizer');
    expect(value?.version).toBe('1.2.0');
    expect(value?.main).toBe('index.js');
    expect(value?.homepage).toBe('https://github.com/example/currency-normalizer');
    expect(value?.posthog).toEqual(posthogManifest);
    const properties = value?.config.properties ?? {};
    expect(properties.apiKey).toEqual({ type: 'string', title: 'API key', description: 'Your key', writeOnly: true, minLength: 1 });
    expect(properties.mode).toMatchObject({ type: 'string', enum: ['strict', 'lenient'], default: 'lenient' });
    expect(properties.batchSize).toMatchObject({ type: 'string', default: '10' });
    expect(properties.mapping).toMatchObject({ type: 'string', contentMediaType: 'application/json', default: '{}' });
    expect(properties.lenientHint).toMatchObject({ 'x-visible-if': [['mode', 'lenient']] });
    expect(value?.config.required).toEqual(['apiKey']);
    expect(value?.config['x-markdown']).toEqual(['Get an API key at example.com']);
    expect(attachmentKeys(value!.config)).toEqual(['rates']);
    // Fields sort by `order`, else by position: batchSize (order 5) moves after mapping (position 4).
    expect(Object.keys(properties)).toEqual(['apiKey', 'mode', 'mapping', 'batchSize', 'rates', 'strictField', 'lenientHint']);
  });

  it('validates configs the way PostHog would: strings, choices, required_if', () => {
    const schema = convertPostHogManifest(posthogManifest, { version: '1.0.0' }).value!.config;
    expect(validateConfig(schema, { apiKey: 'k' })).toEqual({
      value: { apiKey: 'k', mode: 'lenient', batchSize: '10', mapping: '{}' },
      errors: [],
    });
    expect(validateConfig(schema, { apiKey: 'k', batchSize: 10 }).errors).toEqual(['config.batchSize: must be string']);
    expect(validateConfig(schema, { apiKey: '' }).errors).toEqual(['config.apiKey: must NOT have fewer than 1 characters']);
    expect(validateConfig(schema, { apiKey: 'k', mode: 'other' }).errors).toContain('config.mode: must be one of "strict", "lenient"');
    // required_if: mode = strict AND apiKey non-empty -> strictField required
    expect(validateConfig(schema, { apiKey: 'k', mode: 'strict' }).errors).toContain('config.strictField: is required');
    expect(validateConfig(schema, { apiKey: 'k', mode: 'strict', strictField: 'x' }).errors).toEqual([]);
    expect(validateConfig(schema, { apiKey: 'k', rates: { file_name: 'r.json', content_type: 'application/json', contents: '{}' } }).errors).toEqual([]);
  });

  it('accepts config given as an object keyed by field', () => {
    const { value } = convertPostHogManifest({ name: 'Hello', config: { greeting: { type: 'string', default: 'hi' } } }, { version: '0.1.0' });
    expect(value?.config.properties).toEqual({ greeting: { type: 'string', default: 'hi' } });
  });

  it('rejects broken PostHog manifests with path: message errors', () => {
    expect(convertPostHogManifest({ config: [] }, { version: '1.0.0' }).errors).toContain('name: is required');
    expect(convertPostHogManifest({ name: 'x', config: [{ key: 'c', type: 'choice' }] }, { version: '1.0.0' }).errors).toEqual([
      'config.c.choices: a choice field needs a non-empty choices list',
    ]);
    expect(convertPostHogManifest({ name: 'x', config: [{ key: 'c', type: 'number' }] }, { version: '1.0.0' }).errors).toEqual([
      'config.c.type: must be one of "string", "choice", "attachment", "json"',
    ]);
    expect(convertPostHogManifest({ name: 'x' }, { version: 'one' }).errors).toContain('version: must match format "semver"');
  });

  it('slugifies display names', () => {
    expect(slugifyPluginName('My  Plugin!')).toBe('my-plugin');
    expect(slugifyPluginName('***')).toBe('plugin');
  });
});
