import { describe, expectTypeOf, it } from 'vitest';
import { definePlugin, type InferConfigInput, type PluginConfigInput } from './index.js';
import { createEvent, runChain } from './testing.js';

const greeter = definePlugin({
  config: {
    type: 'object',
    properties: {
      greeting: { type: 'string', default: 'hello' },
      mode: { enum: ['tag', 'drop'], default: 'tag' },
      apiKey: { type: 'string', writeOnly: true },
    },
    required: ['apiKey'],
  },
  processEvent(event, { config }) {
    event.properties.greeting = config.greeting;
    return event;
  },
});

const untyped = definePlugin({ processEvent: (event) => event });

describe('config input types', () => {
  it('requires the required keys and makes defaulted ones optional', () => {
    expectTypeOf<PluginConfigInput<typeof greeter>>().toEqualTypeOf<{ apiKey: string; greeting?: string; mode?: 'tag' | 'drop' }>();
    expectTypeOf<InferConfigInput<{ type: 'object'; properties: { n: { type: 'integer' } } }>>().toEqualTypeOf<{ n?: number }>();
  });
});

describe('runChain infers each entry config from its plugin', () => {
  it('accepts a config that fits the schema, and bare plugins', () => {
    void runChain([{ plugin: greeter, config: { apiKey: 'k', mode: 'drop' } }, untyped, { plugin: untyped, config: { anything: 1 } }], [createEvent()]);
  });

  it('rejects a key outside the schema (a typo), in any entry of the chain', () => {
    // @ts-expect-error `mdoe` is not a key of the schema
    void runChain([{ plugin: greeter, config: { apiKey: 'k', mdoe: 'drop' } }], [createEvent()]);
    // @ts-expect-error `greting` is not a key of the schema (second entry)
    void runChain([untyped, { plugin: greeter, name: 'g', config: { greting: 'hi' } }], [createEvent()]);
    // A config built in a variable (widened types) is accepted; its values are checked at run time.
    const config = { apiKey: 'k', mode: 'drop' };
    void runChain([{ plugin: greeter, config }], [createEvent()]);
  });
});
