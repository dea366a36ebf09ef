import { expectTypeOf, test } from 'vitest';
import { type ConfigSchema, redactConfig, restoreSecrets, SECRET_MASK, scrubSecrets, secretValues } from './index.js';

const schema = { type: 'object', properties: { apiKey: { type: 'string', writeOnly: true }, n: { type: 'integer' } } } as const satisfies ConfigSchema;

test('redactConfig and restoreSecrets keep the config type', () => {
  const config = { apiKey: 'k', n: 1 };
  expectTypeOf(redactConfig(schema, config)).toEqualTypeOf<{ apiKey: string; n: number }>();
  expectTypeOf(restoreSecrets(schema, config, { apiKey: 'old' })).toEqualTypeOf<{ apiKey: string; n: number }>();
  // @ts-expect-error a config is an object
  redactConfig(schema, 'apiKey');
  // @ts-expect-error the stored config is an object too
  restoreSecrets(schema, config, null);
});

test('secretValues and scrubSecrets work on strings', () => {
  expectTypeOf(secretValues(schema, {})).toEqualTypeOf<string[]>();
  expectTypeOf(scrubSecrets('text', ['k'])).toEqualTypeOf<string>();
  expectTypeOf(SECRET_MASK).toBeString();
  // @ts-expect-error the schema must be an object schema
  secretValues({ type: 'string' }, {});
});
