// Fixture plugins: plain ESM bundles (default export = the plugin object), as `plugline pack` emits.
import type { FixturePlugin } from './helpers.js';

const trail = (name: string) => `e.properties.trail = [...(e.properties.trail || []), '${name}'];`;

export const fixtures = {
  first: {
    name: 'first',
    config: { type: 'object', properties: { label: { type: 'string', default: 'one' } } },
    code: `export default { processEvent(e, { config }) { ${trail('first')} e.properties.label = config.label; return e; } };`,
  },
  dropper: {
    name: 'dropper',
    code: `export default { processEvent(e) { if (e.event === 'drop_me') return null; ${trail('dropper')} return e; } };`,
  },
  thrower: {
    name: 'thrower',
    code: `export default { processEvent(e) { e.properties.half_done = true; if (e.properties.explode) throw new TypeError('kaboom'); ${trail('thrower')} return e; } };`,
  },
  looper: {
    name: 'looper',
    code: `export default { processEvent(e) { if (e.event === 'loop') { for (;;) {} } ${trail('looper')} return e; } };`,
  },
  bomber: {
    name: 'bomber',
    code: `export default { processEvent(e) { if (e.event === 'bomb') { const hoard = []; for (;;) hoard.push(new Array(100000).fill(e.uuid + Math.random())); } ${trail('bomber')} return e; } };`,
  },
  last: {
    name: 'last',
    code: `export default { processEvent(e) { ${trail('last')} return e; } };`,
  },
  escaper: {
    name: 'escaper',
    code: `
      const probe = (f) => { try { const v = f(); return v === undefined ? 'undefined' : typeof v === 'object' || typeof v === 'function' ? 'object:' + Object.keys(v).join('|') : String(v); } catch (error) { return 'threw ' + error.name; } };
      export default { async processEvent(e) {
        e.properties.escape = {
          process: probe(() => process),
          require: probe(() => require('fs')),
          ctorProcess: probe(() => ({}).constructor.constructor('return process')()),
          ctorGlobalIsOwn: probe(() => ({}).constructor.constructor('return this')() === globalThis),
          globals: Object.getOwnPropertyNames(globalThis).filter((k) => !/^[A-Z]/.test(k) && !['globalThis', 'undefined', 'NaN', 'Infinity'].includes(k) && typeof globalThis[k] !== 'undefined').sort().join(','),
          dynamicImport: await import('node:child_process').then(() => 'imported', (error) => 'rejected'),
          metaKeys: Object.keys(arguments[1]).sort().join(','),
        };
        return e;
      } };`,
  },
  secretive: {
    name: 'secretive',
    config: {
      type: 'object',
      properties: {
        apiKey: { type: 'string', writeOnly: true, minLength: 8 },
        retries: { type: 'integer', minimum: 0, default: 2 },
      },
      required: ['apiKey'],
    },
    code: `export default {
      setupPlugin({ config, global }) { global.greeting = 'key-length-' + config.apiKey.length; },
      processEvent(e, { config, global }) { e.properties.secretive = { retries: config.retries, greeting: global.greeting }; return e; },
    };`,
  },
  exporter: {
    name: 'exporter',
    config: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
    code: `export default {
      async exportEvents(events, { config, logger }) {
        const response = await fetch(config.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events.map((e) => e.uuid)) });
        if (response.status >= 500) throw new RetryError('receiver answered ' + response.status);
        if (!response.ok) throw new Error('receiver rejected the batch with ' + response.status);
        logger.info('exported ' + events.length);
      },
    };`,
  },
  stateful: {
    name: 'stateful',
    code: `export default {
      async onEvent(event, { storage, cache }) { await storage.set('last_seen', event.uuid); await cache.incr('seen'); },
      async runEveryMinute({ storage, cache }) { const runs = (await storage.get('runs', 0)) + 1; await storage.set('runs', runs); await storage.set('seen_in_cache', await cache.get('seen', 0)); },
    };`,
  },
  slowTagger: {
    name: 'slow-tagger',
    config: { type: 'object', properties: { tag: { type: 'string' }, waitUrl: { type: 'string' } }, required: ['tag', 'waitUrl'] },
    code: `export default { async processEvent(e, { config }) { await fetch(config.waitUrl); e.properties.tag = config.tag; return e; } };`,
  },
  pgReader: {
    name: 'pg-reader',
    capabilities: ['postgres'],
    config: { type: 'object', properties: { db: { type: 'string', writeOnly: true } }, required: ['db'] },
    code: `export default { async processEvent(e, { config, postgres }) {
      const { rows, rowCount } = await postgres.query(config.db, 'SELECT $1::int + 1 AS n', [41]);
      e.properties.pg = { n: rows[0].n, rowCount };
      return e;
    } };`,
  },
  posthogStyle: {
    name: 'posthog-style',
    config: {
      type: 'object',
      properties: { greeting: { type: 'string', default: 'hi' }, url: { type: 'string' }, exportEventsToIgnore: { type: 'string', default: 'ignored' } },
      required: ['url'],
    },
    code: `
      export async function setupPlugin({ cache }) { await cache.lpush('list', ['a', 'b']); }
      export async function processEventBatch(events, { cache, config }) {
        const list = await cache.lrange('list', 0, -1);
        const len = await cache.llen('list');
        return events.map((e) => ({ ...e, properties: { ...e.properties, list, len, greeting: config.greeting } }));
      }
      export async function onEvent(event) {
        if (event.event === 'trigger') await posthog.capture('captured_by_plugin', { distinct_id: event.distinct_id });
      }
      export async function exportEvents(events, { config }) {
        await fetch(config.url, { method: 'POST', body: JSON.stringify(events.map((e) => e.event)) });
      }
      export const jobs = { async remember(payload, { storage }) { await storage.set('job_payload', payload); } };
      export async function runEveryMinute({ jobs, utils }) {
        await utils.cursor.init('cursor', 10);
        await utils.cursor.init('cursor', 99);
        const n = await utils.cursor.increment('cursor', 5);
        await jobs.remember({ n }).runNow();
      }`,
  },
  chatty: {
    name: 'chatty',
    // Logs in a loop and reports more metric names than the runtime keeps: both stay capped.
    code: `export default {
      processEvent(e, { logger, metrics }) {
        for (let i = 0; i < 300; i++) logger.info('line ' + e.properties.n + '.' + i);
        metrics.increment('events');
        metrics.max('biggest', e.properties.n);
        metrics.increment('name_' + e.properties.n);
        return e;
      },
    };`,
  },
  incompatible: {
    name: 'incompatible',
    sdk: '^99.0.0',
    code: `export default { processEvent(e) { return e; } };`,
  },
} satisfies Record<string, FixturePlugin>;
