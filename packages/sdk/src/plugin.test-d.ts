import { describe, expectTypeOf, it } from 'vitest';
import { type InferConfig, type PluginCapability, type PluginEvent, type PluginManifest, type PluginMeta, definePlugin, missingCapabilities } from './index.js';

describe('definePlugin infers meta.config from the JSON Schema', () => {
  it('gives required keys, optional keys and enums their types', () => {
    definePlugin({
      config: {
        type: 'object',
        properties: {
          apiKey: { type: 'string', writeOnly: true },
          mode: { enum: ['a', 'b'] },
          limit: { type: 'integer' },
        },
        required: ['apiKey', 'mode'],
      },
      processEvent(event, meta) {
        expectTypeOf(meta.config).toEqualTypeOf<{ apiKey: string; mode: 'a' | 'b'; limit?: number }>();
        expectTypeOf(event).toEqualTypeOf<PluginEvent>();
        return event;
      },
    });
  });

  it('treats keys with a default as present', () => {
    definePlugin({
      config: { type: 'object', properties: { size: { type: 'number', default: 10 }, tags: { type: 'array', items: { type: 'string' } } } },
      setupPlugin({ config }) {
        expectTypeOf(config.size).toEqualTypeOf<number>();
        expectTypeOf(config.tags).toEqualTypeOf<string[] | undefined>();
      },
    });
  });

  it('rejects misuse at compile time', () => {
    definePlugin({
      config: { type: 'object', properties: { mode: { enum: ['a', 'b'] } }, required: ['mode'] },
      processEvent(event, { config }) {
        // @ts-expect-error 'c' is not in the enum
        const isC = config.mode === 'c';
        // @ts-expect-error unknown config key
        void config.apiKey;
        return isC ? null : event;
      },
    });
    definePlugin({
      // @ts-expect-error processEvent must return an event, null or undefined
      processEvent: () => 42,
    });
    // @ts-expect-error a config schema must describe an object
    definePlugin({ config: { type: 'string' } });
    definePlugin({
      // @ts-expect-error exportEvents receives an array, not one event
      exportEvents: (events: PluginEvent) => void events,
    });
  });

  it('returns the plugin unchanged (an identity helper)', () => {
    const plugin = definePlugin({ processEvent: (event) => event });
    expectTypeOf(plugin.processEvent).not.toBeUndefined();
  });

  it('types the meta of a schema-less plugin loosely', () => {
    expectTypeOf<InferConfig<undefined>>().toEqualTypeOf<Record<string, unknown>>();
    expectTypeOf<PluginMeta['config']>().toEqualTypeOf<Record<string, unknown>>();
    definePlugin({
      async processEvent(event, { storage, cache }) {
        expectTypeOf(await storage.get('k')).toEqualTypeOf<import('./index.js').JsonValue | null>();
        expectTypeOf(await cache.incr('n')).toEqualTypeOf<number>();
        return event;
      },
    });
  });
});

describe('capability strings', () => {
  it('are postgres or net:<target>, and the manifest takes them', () => {
    expectTypeOf<'postgres'>().toExtend<PluginCapability>();
    expectTypeOf<'net:api.hubapi.com:443'>().toExtend<PluginCapability>();
    // @ts-expect-error not a capability
    const bad: PluginCapability = 'filesystem';
    void bad;
    expectTypeOf<PluginManifest['capabilities']>().toEqualTypeOf<PluginCapability[] | undefined>();
    expectTypeOf(missingCapabilities).returns.toEqualTypeOf<PluginCapability[]>();
  });
});
