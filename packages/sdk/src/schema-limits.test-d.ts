import { describe, expectTypeOf, it } from 'vitest';
import { type RegExpEngine, type SchemaLimits, re2RegExp, schemaLimitErrors, schemaLimits, unsupportedPatternErrors } from './index.js';

describe('schema limits API types', () => {
  it('exposes the limits as numbers, overridable per call', () => {
    expectTypeOf(schemaLimits.maxProperties).toEqualTypeOf<100>();
    expectTypeOf(schemaLimitErrors).parameter(1).toEqualTypeOf<Partial<SchemaLimits> | undefined>();
    expectTypeOf(schemaLimitErrors({ type: 'object' }, { maxDepth: 8 })).toEqualTypeOf<string[]>();
    // @ts-expect-error unknown limit names are refused
    schemaLimitErrors({ type: 'object' }, { maxWhatever: 1 });
    expectTypeOf(unsupportedPatternErrors({})).toEqualTypeOf<string[]>();
  });

  it('gives ajv an engine of the shape code.regExp takes', () => {
    expectTypeOf(re2RegExp).toEqualTypeOf<RegExpEngine>();
    expectTypeOf(re2RegExp('^a$', 'u').test).toEqualTypeOf<(input: string) => boolean>();
    expectTypeOf(re2RegExp.code).toEqualTypeOf<string>();
  });
});
