import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { formats } from './formats.js';
import { validateManifestShape, validateSchemaDraft2020 } from './generated/validators.js';
import { getAjv, manifestSchema, validateConfig, validateConfigSchema, validateManifest } from './manifest.js';
import type { ConfigSchema } from './plugin.js';

const addFormats = (addFormatsModule as unknown as { default?: (ajv: Ajv2020) => Ajv2020 }).default ?? (addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020);

// What the SDK did before the validators were precompiled: ajv compiling at run time.
function runtimeAjv(options: { useDefaults?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false, ...options });
  addFormats(ajv);
  ajv.addFormat('semver', formats.semver);
  ajv.addFormat('semver-range', formats['semver-range']);
  return ajv;
}

type Precompiled = ((data: unknown) => boolean) & { errors?: unknown };
const manifestShape = validateManifestShape as unknown as Precompiled;
const metaSchema = validateSchemaDraft2020 as unknown as Precompiled;

const valid = { name: '@acme/geoip', version: '1.2.3', main: 'dist/index.js', sdk: '^0.1.0', config: { type: 'object' } };

const manifests: unknown[] = [
  valid,
  { ...valid, keywords: ['a', 'b'], homepage: 'https://example.com', repository: 'https://github.com/acme/geo', capabilities: ['postgres', 'net:api.hubapi.com:443'], license: 'MIT', author: 'A' },
  { ...valid, name: 'Bad Name', version: '1.2', sdk: 'not a range!', main: '../x.js', surprise: true },
  { ...valid, homepage: 'not a uri', capabilities: ['postgres', 'postgres'], keywords: ['', 'x'.repeat(51)] },
  { ...valid, keywords: Array.from({ length: 21 }, (_, i) => `k${i}`), icon: 'x'.repeat(100_001), description: 5 },
  { ...valid, config: { type: 'string' }, posthog: [] },
  { name: 'x' },
  null,
  'plugin',
  [],
];

// Config schemas, valid and broken in as many keywords of the 2020-12 vocabularies as possible.
const schemas: object[] = [
  { type: 'object' },
  { type: 'object', properties: { apiKey: { type: 'string', writeOnly: true }, n: { type: 'integer', default: 3, minimum: 1 } }, required: ['apiKey'] },
  { type: 'object', properties: { a: { $ref: '#/$defs/x' } }, $defs: { x: { type: 'string', pattern: '^a+$' } } },
  { type: 'object', properties: { mode: { enum: ['a', 'b'] }, list: { type: 'array', items: { type: 'string' }, uniqueItems: true } } },
  // if/then/else (parsed: an object literal with a `then` key reads as a thenable to the linter).
  JSON.parse('{"type":"object","if":{"properties":{"mode":{"const":"a"}}},"then":{"required":["x"]},"else":{},"additionalProperties":true}'),
  { type: 'nope' },
  { type: 'object', properties: { n: { type: 'nope' } } },
  { type: 'object', properties: { q: { minLength: -1, maxLength: 'a', enum: [] } } },
  { type: 'object', required: 'a', additionalProperties: 5, allOf: [], anyOf: {}, not: 1 },
  { type: 'object', properties: { s: { type: ['string', 'bogus'], format: 3, items: [true], prefixItems: {}, contains: false } } },
  { type: 'object', dependentRequired: { a: [1] }, dependentSchemas: { b: 3 }, $defs: 1, examples: 1, deprecated: 'x' },
  { type: 'object', unevaluatedProperties: 'x', if: 1, else: [], propertyNames: { type: 5 } },
  { type: 'object', $ref: 2, $comment: 3, $anchor: '1bad', title: 4, description: 5, readOnly: 'x', writeOnly: 1 },
  { type: 'object', minProperties: 1.5, maxProperties: -2, multipleOf: 0, minimum: 'x', exclusiveMaximum: {}, uniqueItems: 'y', minContains: -1 },
  { type: 'object', contentEncoding: 1, contentMediaType: 2, $vocabulary: { x: 'y' }, $dynamicRef: 4, $id: 7 },
  { type: 'object', properties: { deep: { type: 'object', properties: { deeper: { type: 'array', items: { type: 'object', properties: { x: { type: 'wrong' } } } } } } } },
];

describe('precompiled validators (src/generated/validators.ts)', () => {
  it('are up to date with manifest.schema.json and ajv (else run npm run generate -w @plugline/sdk)', () => {
    const script = fileURLToPath(new URL('../scripts/generate-validators.mjs', import.meta.url));
    const generated = execFileSync(process.execPath, [script, '--stdout'], { encoding: 'utf8' });
    expect(generated).toBe(readFileSync(new URL('./generated/validators.ts', import.meta.url), 'utf8'));
  });

  it.each(manifests.map((manifest) => [manifest]))('validates the manifest %j exactly like ajv compiling manifestSchema', (manifest) => {
    const compiled = runtimeAjv().compile(manifestSchema);
    expect(manifestShape(manifest)).toBe(compiled(manifest));
    expect(manifestShape.errors ?? null).toEqual(compiled.errors ?? null);
  });

  it.each(schemas.map((schema) => [schema]))('checks the config schema %j exactly like ajv.validateSchema', (schema) => {
    const ajv = runtimeAjv();
    expect(metaSchema(schema)).toBe(ajv.validateSchema(schema));
    expect(metaSchema.errors ?? null).toEqual(ajv.errors ?? null);
  });

  it('found both valid and invalid inputs above (the comparisons are not vacuous)', () => {
    expect(manifests.map((manifest) => manifestShape(manifest))).toEqual(expect.arrayContaining([true, false]));
    expect(schemas.map((schema) => metaSchema(schema))).toEqual(expect.arrayContaining([true, false]));
    metaSchema({ type: 'object', properties: { n: { type: 'nope' } } });
    expect(metaSchema.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ instancePath: '/properties/n/type' })]),
    );
  });
});

describe('validation without a run-time meta-schema compile', () => {
  it("the SDK's ajv instance checks schemas with the precompiled meta-schema validator", () => {
    expect(getAjv().getSchema('https://json-schema.org/draft/2020-12/schema')).toBe(validateSchemaDraft2020);
    expect(getAjv().validateSchema({ type: 'object', properties: { n: { type: 'nope' } } })).toBe(false);
    expect(() => getAjv().compile({ type: 'object', minProperties: -1 })).toThrow('schema is invalid: data/minProperties must be >= 0');
  });

  it('validateManifest still reports config schemas that ajv cannot compile', () => {
    const manifest = { ...valid, config: { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } } };
    const { value, errors } = validateManifest(manifest);
    expect(value).toBeUndefined();
    expect(errors).toEqual([expect.stringMatching(/^config: \(root\): can't resolve reference #\/\$defs\/missing/)]);
  });

  it('validateConfigSchema reports meta-schema errors as path: message', () => {
    expect(validateConfigSchema({ type: 'object', properties: { n: { type: 'nope' } } }).errors).toContain(
      'properties/n/type: must be equal to one of the allowed values',
    );
  });

  it.each(schemas.map((schema) => [schema]))('validateConfig with the schema %j throws or validates as ajv with its own meta-schema check did', (schema) => {
    let expected: unknown;
    try {
      const { $schema: _declared, ...rest } = schema as Record<string, unknown>;
      const closed = 'additionalProperties' in rest || 'unevaluatedProperties' in rest ? rest : { ...rest, additionalProperties: false };
      const validate = runtimeAjv({ useDefaults: true }).compile(closed);
      const copy = {};
      expected = validate(copy) ? { ok: copy } : { invalid: validate.errors?.length };
    } catch (error) {
      expected = { thrown: (error as Error).message };
    }
    let actual: unknown;
    try {
      const result = validateConfig(schema as ConfigSchema, {});
      actual = result.value ? { ok: result.value } : { invalid: result.errors.length };
    } catch (error) {
      actual = { thrown: (error as Error).message };
    }
    expect(actual).toEqual(expected);
  });
});
