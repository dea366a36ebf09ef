import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  errorFromAnswer,
  PluginError,
  PluglineError,
  RetryError,
  SDK_VERSION,
  definePlugin,
  errorCatalogue,
  isRetryError,
  redactConfig,
  validateConfig,
  validateConfigSchema,
} from './index.js';
import utmTagger from './examples/utm-tagger.js';
import { createEvent, createMemoryCache, createMeta, runChain } from './testing.js';

describe('errors', () => {
  it('turns a server error answer into its coded PluglineError, else ERR_REGISTRY_RESPONSE', () => {
    const coded = errorFromAnswer(400, JSON.stringify({ error: { code: 'ERR_CONFIG_INVALID', message: 'config is invalid', details: ['n: must be integer'] } }), 'PUT /x');
    expect(coded).toMatchObject({ code: 'ERR_CONFIG_INVALID', message: 'config is invalid', status: 400, details: ['n: must be integer'] });
    expect(errorFromAnswer(502, JSON.stringify({ error: { code: 'ERR_MADE_UP', message: 'nope' } }), 'GET /y')).toMatchObject({
      code: 'ERR_REGISTRY_RESPONSE',
      message: 'GET /y answered HTTP 502: nope',
    });
    expect(errorFromAnswer(500, '<html>oops</html>', 'GET /z').message).toBe('GET /z answered HTTP 500: <html>oops</html>');
    expect(errorFromAnswer(503, '', 'GET /z').message).toBe('GET /z answered HTTP 503');
  });

  it('gives every code an HTTP status and a message', () => {
    for (const [code, entry] of Object.entries(errorCatalogue)) {
      expect(code).toMatch(/^ERR_[A-Z_]+$/);
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(entry.message.length).toBeGreaterThan(0);
    }
  });

  it('serialises to the HTTP error body', () => {
    const error = new PluglineError('ERR_CONFIG_INVALID', 'config.n: must be integer', { details: ['config.n: must be integer'] });
    expect(error.status).toBe(400);
    expect(error.toJSON()).toEqual({
      error: { code: 'ERR_CONFIG_INVALID', message: 'config.n: must be integer', details: ['config.n: must be integer'] },
    });
  });

  it('wraps plugin errors with name, version and hook', () => {
    const cause = new TypeError('boom');
    const error = new PluginError({ plugin: 'geoip', version: '1.2.3', hook: 'processEvent', cause });
    expect(error.message).toBe('geoip@1.2.3 processEvent: boom');
    expect(error.code).toBe('ERR_PLUGIN_THREW');
    expect(error.cause).toBe(cause);
    expect([error.plugin, error.version, error.hook]).toEqual(['geoip', '1.2.3', 'processEvent']);
  });

  it('recognises a RetryError from another copy of the SDK by its name', () => {
    class ForeignRetryError extends Error {
      override name = 'RetryError';
    }
    expect(isRetryError(new RetryError('later'))).toBe(true);
    expect(isRetryError(new ForeignRetryError('later'))).toBe(true);
    expect(isRetryError(new Error('no'))).toBe(false);
    expect(isRetryError('RetryError')).toBe(false);
  });
});

describe('SDK_VERSION', () => {
  it('is the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(SDK_VERSION).toBe(pkg.version);
  });
});

describe('config validation', () => {
  const schema = {
    type: 'object',
    properties: {
      apiKey: { type: 'string', writeOnly: true },
      batchSize: { type: 'integer', minimum: 1, default: 100 },
      mode: { enum: ['a', 'b'] },
    },
    required: ['apiKey'],
  } as const;

  it('applies defaults without mutating the input', () => {
    const input = { apiKey: 'secret' };
    expect(validateConfig(schema, input)).toEqual({ value: { apiKey: 'secret', batchSize: 100 }, errors: [] });
    expect(input).toEqual({ apiKey: 'secret' });
  });

  it('rejects unknown keys, wrong types and missing required keys with paths', () => {
    const { value, errors } = validateConfig(schema, { batchSize: 0, mode: 'c', extra: 1 });
    expect(value).toBeUndefined();
    expect(errors).toEqual(
      expect.arrayContaining([
        'config.apiKey: is required',
        'config.extra: is not allowed (unknown key)',
        'config.batchSize: must be >= 1',
        'config.mode: must be one of "a", "b"',
      ]),
    );
  });

  it('never shows a secret value in its errors', () => {
    const { errors } = validateConfig(schema, { apiKey: 12345678 });
    expect(errors.join('\n')).not.toContain('12345678');
  });

  it('redacts writeOnly values', () => {
    expect(redactConfig(schema, { apiKey: 'sk-live', batchSize: 3 })).toEqual({ apiKey: '********', batchSize: 3 });
  });

  it('rejects config schemas that are not valid JSON Schema', () => {
    expect(validateConfigSchema({ type: 'object', properties: { n: { type: 'nope' } } }).errors.length).toBeGreaterThan(0);
    expect(validateConfigSchema({ type: 'string' }).errors).toEqual(['type: must be "object" (a config is an object)']);
    expect(validateConfigSchema([]).errors).toEqual(['must be an object (a JSON Schema)']);
    expect(validateConfigSchema({ type: 'object', properties: { n: { type: 'integer' } } }).errors).toEqual([]);
  });
});

describe('harness', () => {
  it('createEvent fills the required fields', () => {
    const event = createEvent({ event: 'signed_up' });
    expect(event.event).toBe('signed_up');
    expect(event.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.properties).toEqual({});
    expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false);
  });

  it('createMeta gives working storage, logger and metrics', async () => {
    const meta = createMeta({ config: { a: 1 } });
    await meta.storage.set('k', { n: 1 });
    expect(await meta.storage.get('k')).toEqual({ n: 1 });
    expect(await meta.storage.get('missing', 'fallback')).toBe('fallback');
    await meta.storage.del('k');
    expect(await meta.storage.get('k')).toBeNull();
    meta.logger.warn('careful', { n: 2 });
    meta.metrics.increment('seen', 2);
    meta.metrics.increment('seen');
    expect(meta.logs).toEqual([{ level: 'warn', message: 'careful', fields: { n: 2 } }]);
    expect(meta.metricValues.get('seen')).toBe(3);
  });

  it('cache honours TTLs and counts with incr', async () => {
    let now = 1_000;
    const cache = createMemoryCache(() => now);
    await cache.set('session', 'abc', 10);
    expect(await cache.incr('hits')).toBe(1);
    expect(await cache.incr('hits', 4)).toBe(5);
    expect(await cache.expire('hits', 5)).toBe(true);
    expect(await cache.expire('nope', 5)).toBe(false);
    now += 6_000;
    expect(await cache.get('hits')).toBeNull();
    expect(await cache.get('session')).toBe('abc');
    now += 5_000;
    expect(await cache.get('session')).toBeNull();
  });
});

describe('sample plugin through runChain', () => {
  const page = (url: string, distinctId = 'u1') => createEvent({ distinct_id: distinctId, properties: { $current_url: url } });

  it('changes events (config defaults applied)', async () => {
    const { events, errors } = await runChain([utmTagger], [page('https://x.test/?utm_campaign=spring')]);
    expect(errors).toEqual([]);
    expect(events[0]?.properties.campaign).toBe('spring');
  });

  it('drops events, recording which plugin dropped them', async () => {
    const blocked = page('https://x.test/', 'bot');
    const { events, dropped } = await runChain(
      [{ plugin: utmTagger, name: 'utm', version: '1.0.0', config: { blockedIds: ['bot'] } }],
      [blocked, page('https://x.test/')],
    );
    expect(events).toHaveLength(1);
    expect(dropped).toEqual([{ event: blocked, by: 'utm (1.0.0)' }]);
  });

  it('records a throw with plugin, version and hook, and passes the event on unchanged', async () => {
    const after = definePlugin({ processEvent: (event) => ({ ...event, properties: { ...event.properties, after: true } }) });
    const bad = page('not a url');
    const { events, errors } = await runChain([{ plugin: utmTagger, name: 'utm', version: '1.0.0' }, { plugin: after, name: 'after' }], [bad]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(PluginError);
    expect(errors[0]?.message).toMatch(/^utm@1\.0\.0 processEvent: .*Invalid URL/);
    expect(events[0]?.properties).toEqual({ $current_url: 'not a url', after: true });
  });

  it('undoes edits made by a plugin that then throws', async () => {
    const editThenThrow = definePlugin({
      processEvent(event) {
        event.properties.half = 'done';
        throw new Error('midway');
      },
    });
    const { events } = await runChain([editThenThrow], [createEvent({ properties: { a: 1 } })]);
    expect(events[0]?.properties).toEqual({ a: 1 });
  });

  it('treats a changed uuid or a non-event result as a failure', async () => {
    const changesUuid = definePlugin({ processEvent: (event) => ({ ...event, uuid: 'other' }) });
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong plugin
    const returnsString = definePlugin({ processEvent: (() => 'nope') as any });
    const input = createEvent();
    const { events, errors } = await runChain([changesUuid, returnsString], [input]);
    expect(events).toEqual([input]);
    expect(errors.map((e) => e.message)).toEqual([
      'plugin-1@0.0.0 processEvent: changed the event uuid, which is not allowed',
      'plugin-2@0.0.0 processEvent: returned string, not an event',
    ]);
  });

  it('rejects an invalid config with ERR_CONFIG_INVALID', async () => {
    await expect(runChain([{ plugin: utmTagger, config: { blockedIds: 'bot' } }], [])).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
    });
  });

  it('runs setup, onEvent, exportEvents and teardown in order', async () => {
    const calls: string[] = [];
    const exporter = definePlugin({
      setupPlugin: ({ global }) => {
        global.ready = true;
        calls.push('setup');
      },
      onEvent: (event) => void calls.push(`onEvent ${event.event}`),
      exportEvents: (events, { global }) => void calls.push(`export ${events.length} ready=${String(global.ready)}`),
      teardownPlugin: () => void calls.push('teardown'),
    });
    const { exported } = await runChain([{ plugin: exporter, name: 'exp' }], [createEvent({ event: 'a' }), createEvent({ event: 'b' })]);
    expect(calls).toEqual(['setup', 'onEvent a', 'onEvent b', 'export 2 ready=true', 'teardown']);
    expect(exported.get('exp')?.map((e) => e.event)).toEqual(['a', 'b']);
  });

  it('reports a RetryError from exportEvents as a retry request', async () => {
    const flaky = definePlugin({
      exportEvents: () => {
        throw new RetryError('HTTP 503');
      },
    });
    const { errors } = await runChain([{ plugin: flaky, name: 'flaky' }], [createEvent()]);
    expect(errors[0]?.message).toBe('flaky@0.0.0 exportEvents: retry requested: HTTP 503');
  });
});
