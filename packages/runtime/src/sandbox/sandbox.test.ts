import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runSandboxedChain } from '../chain.js';
import { EgressPolicy } from './egress.js';
import { MemoryCache, createSandboxHost } from './host.js';
import { PluginSandbox, batchEventsJson, toLineBatch } from './sandbox.js';

const logs: { level: string; message: string }[] = [];
const storage = new Map<string, unknown>();
const host = createSandboxHost({
  sink: { log: (level, message) => void logs.push({ level, message }), metric: () => {} },
  storage: {
    get: (key) => (storage.get(key) as never) ?? null,
    set: (key, value) => void storage.set(key, value),
    del: (key) => void storage.delete(key),
  },
  cache: new MemoryCache(),
  postgres: false,
});

const sandboxes: PluginSandbox[] = [];
function sandbox(code: string, extra: Partial<ConstructorParameters<typeof PluginSandbox>[0]> = {}) {
  const created = new PluginSandbox({ name: 'p', version: '1.0.0', integrity: `sha512-${Math.random()}`, code, config: {}, host, timeoutMs: 200, ...extra });
  sandboxes.push(created);
  return created;
}
const event = (n: number) => ({ uuid: `u${n}`, event: 'e', distinct_id: `d${n}`, properties: { n }, timestamp: '2026-01-01T00:00:00.000Z' });

afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});

describe('PluginSandbox buffered logs and metrics', () => {
  function recordingSandbox(code: string) {
    const lines: [string, string, unknown][] = [];
    const metrics: [string, string, number][] = [];
    let crossings = 0;
    const base = createSandboxHost({
      sink: { log: (level, message, fields) => void lines.push([level, message, fields]), metric: (kind, name, value) => void metrics.push([kind, name, value]) },
      storage: { get: () => null, set: () => {}, del: () => {} },
      cache: new MemoryCache(),
      postgres: false,
    });
    const counting = {
      ...base,
      sync: (op: string, payload: unknown) => {
        if (op === 'buffered' || op === 'log' || op === 'metric') crossings += 1;
        return base.sync(op, payload);
      },
    };
    return { s: sandbox(code, { host: counting }), lines, metrics, crossings: () => crossings };
  }

  it('hands the logs of a batch (in order) and summed metrics to the host when the batch returns', async () => {
    const { s, lines, metrics, crossings } = recordingSandbox(`export default {
      processEvent(e, { logger, metrics }) {
        console.log('console', e.properties.n);
        logger.warn('logger ' + e.properties.n, { n: e.properties.n });
        metrics.increment('seen');
        metrics.increment('weighted', 2);
        metrics.max('top', e.properties.n);
        metrics.min('bottom', e.properties.n);
        metrics.increment('bad', NaN);
        return e;
      },
      async exportEvents(events, { logger, metrics }) { logger.info('exported ' + events.length); metrics.increment('exported', events.length); },
    }`);
    await s.start();
    await s.processBatch(JSON.stringify([event(0), event(1), event(2)]), 3);
    expect(lines).toEqual([
      ['info', 'console 0', undefined],
      ['warn', 'logger 0', { n: 0 }],
      ['info', 'console 1', undefined],
      ['warn', 'logger 1', { n: 1 }],
      ['info', 'console 2', undefined],
      ['warn', 'logger 2', { n: 2 }],
    ]);
    expect(metrics.sort()).toEqual([
      ['increment', 'seen', 3],
      ['increment', 'weighted', 6],
      ['max', 'top', 2],
      ['min', 'bottom', 0],
    ]);
    expect(crossings()).toBe(1);
    expect(await s.callHook('exportEvents', [[event(0), event(1)]])).toBeNull();
    expect(lines.at(-1)).toEqual(['info', 'exported 2', undefined]);
    expect(metrics.at(-1)).toEqual(['increment', 'exported', 2]);
    expect(crossings()).toBe(2);
  });

  it('refuses log fields JSON cannot carry at the call, like a direct host call did', async () => {
    const { s, lines } = recordingSandbox(`export default {
      processEvent(e, { logger }) {
        try { logger.info('big', { n: 1n }); } catch (error) { logger.warn('refused: ' + error.name); }
        return e;
      },
    }`);
    await s.start();
    expect((await s.processBatch(JSON.stringify([event(0)]), 1)).outcomes).toEqual([1]);
    expect(lines).toEqual([['warn', 'refused: TypeError', undefined]]);
  });

  it('flushes a plugin that logs in a loop in bounded chunks, truncating long lines', async () => {
    // 20,000 lines of 10 KB (200 MB) would not fit the isolate's 64 MB if the buffer were unbounded.
    const { s, lines, crossings } = recordingSandbox(`export default {
      processEvent(e, { logger }) { const big = 'x'.repeat(20000); for (let i = 0; i < 20000; i++) logger.info(i + big); return e; },
    }`);
    await s.start();
    const { outcomes } = await s.processBatch(JSON.stringify([event(0)]), 20_000);
    expect(outcomes).toEqual([1]);
    expect(lines).toHaveLength(20_000);
    expect(lines[19_999]![1]).toMatch(/^19999x+$/);
    expect(lines.every(([, message]) => message.length === 10_000)).toBe(true);
    expect(crossings()).toBeGreaterThan(20_000 / 256);
    expect(crossings()).toBeLessThan(1_000);
  });
});

describe('PluginSandbox', () => {
  it('runs processEvent over a batch with the SDK chain semantics', async () => {
    const s = sandbox(`export default { processEvent(e) {
      if (e.properties.n === 1) return null;
      if (e.properties.n === 2) { e.properties.touched = true; throw new TypeError('boom'); }
      e.properties.seen = true; return e; } }`);
    await s.start();
    expect(s.hooks.has('processEvent')).toBe(true);
    const { outcomes, output } = await s.processBatch(JSON.stringify([event(0), event(1), event(2), null]));
    expect(outcomes).toEqual([1, 2, { message: 'boom', errorName: 'TypeError' }, 0]);
    const events = JSON.parse(batchEventsJson(output));
    expect(events[0].properties).toEqual({ n: 0, seen: true });
    expect(events[1]).toBeNull();
    expect(events[2].properties).toEqual({ n: 2 });
    expect(events[3]).toBeNull();
  });

  it('settles promises returned by a sync hook and rejects results that are not events', async () => {
    const s = sandbox(`export default { processEvent(e) {
      if (e.properties.n === 0) return Promise.resolve({ ...e, properties: { ...e.properties, later: true } });
      if (e.properties.n === 1) return Promise.reject(new RangeError('later boom'));
      if (e.properties.n === 2) return { ...e, uuid: 'changed' };
      if (e.properties.n === 3) return 'not an event';
      return undefined;
    } }`);
    await s.start();
    const { outcomes, output } = await s.processBatch(JSON.stringify([event(0), event(1), event(2), event(3), event(4)]));
    expect(outcomes).toEqual([
      1,
      { message: 'later boom', errorName: 'RangeError' },
      { message: 'changed the event uuid, which is not allowed', errorName: 'InvalidResult' },
      { message: 'returned string, not an event', errorName: 'InvalidResult' },
      2,
    ]);
    const events = JSON.parse(batchEventsJson(output));
    expect(events[0].properties).toEqual({ n: 0, later: true });
    expect(events[2]).toEqual(event(2));
    expect(events[4]).toBeNull();
  });

  it('fails only the event whose result is not JSON (BigInt, cycle), keeping it as it was', async () => {
    const s = sandbox(`export default { processEvent(e) {
      if (e.properties.n === 1) { e.properties.big = 10n; return e; }
      if (e.properties.n === 2) { e.properties.self = e; return e; }
      e.properties.ok = true; return e;
    } }`);
    await s.start();
    const { outcomes, output } = await s.processBatch(toLineBatch([event(0), event(1), event(2), event(3)]), 4);
    const notJson = { message: 'returned an event that is not JSON-serialisable', errorName: 'InvalidResult' };
    expect(outcomes).toEqual([1, notJson, notJson, 1]);
    const events = JSON.parse(batchEventsJson(output));
    expect(events[0].properties).toEqual({ n: 0, ok: true });
    expect(events[1]).toEqual(event(1));
    expect(events[2]).toEqual(event(2));
    expect(events[3].properties).toEqual({ n: 3, ok: true });
  });

  it('passes a line batch from one plugin to the next, an empty batch included', async () => {
    const first = sandbox(`export default { processEvent(e) { if (e.properties.n === 1) return null; e.properties.a = 1; return e; } }`);
    const second = sandbox(`export default { processEvent(e) { e.properties.b = 2; return e; } }`);
    const one = await first.processBatch(toLineBatch([event(0), event(1), event(2)]), 3);
    const two = await second.processBatch(one.output, 3);
    expect(two.outcomes).toEqual([1, 0, 1]);
    expect(JSON.parse(batchEventsJson(two.output)).map((e: { properties: unknown } | null) => e?.properties ?? null)).toEqual([{ n: 0, a: 1, b: 2 }, null, { n: 2, a: 1, b: 2 }]);
    const empty = await second.processBatch(toLineBatch([]), 0);
    expect(empty.outcomes).toEqual([]);
    expect(JSON.parse(batchEventsJson(empty.output))).toEqual([]);
  });

  it('gives a failed host call to the plugin as an Error with the code the host saw', async () => {
    // A port nothing listens on: the host's fetch fails with ECONNREFUSED on the error's cause.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const coded = createSandboxHost({
      sink: { log: () => {}, metric: () => {} },
      storage: { get: () => null, set: () => {}, del: () => {} },
      cache: new MemoryCache(),
      postgres: false,
      // Loopback is refused by default: this port is granted, so the fetch reaches the closed port.
      egress: new EgressPolicy({ grants: [`net:127.0.0.1:${port}`] }),
    });
    const failing = {
      ...coded,
      async: (op: string, payload: unknown) =>
        op === 'storage.get' ? Promise.reject(Object.assign(new Error('relation "x" does not exist'), { code: '42P01' })) : coded.async(op, payload),
    };
    const s = sandbox(
      `export default { async processEvent(e, { storage }) {
        const seen = (error) => ({ name: error.name, message: error.message, code: error.code, realm: error instanceof Error });
        e.properties.fetch = await fetch('http://127.0.0.1:${port}/').then(() => 'ok', seen);
        e.properties.storage = await storage.get('k').then(() => 'ok', seen);
        return e;
      } }`,
      { host: failing },
    );
    await s.start();
    const { outcomes, output } = await s.processBatch(JSON.stringify([event(0)]));
    expect(outcomes).toEqual([1]);
    const { properties } = JSON.parse(batchEventsJson(output))[0];
    // node-fetch's FetchError (PostHog plugins test err.name and err.code), a TypeError like the web's.
    expect(properties.fetch).toEqual({ name: 'FetchError', message: `request to http://127.0.0.1:${port}/ failed, reason: ECONNREFUSED`, code: 'ECONNREFUSED', realm: true });
    expect(properties.storage).toEqual({ name: 'Error', message: 'relation "x" does not exist', code: '42P01', realm: true });
  });

  it('runs a big batch through the chain in slices, keeping order and each failure at its own index', async () => {
    const first = sandbox(`export default { processEvent(e) {
      if (e.properties.n === 300) throw new Error('bad 300');
      if (e.properties.n === 550) return null;
      e.properties.first = true; return e;
    } }`);
    const second = sandbox(`export default { processEvent(e) { if (e.properties.n === 999) throw new Error('bad 999'); e.properties.second = e.properties.n; return e; } }`);
    const input = Array.from({ length: 1000 }, (_, n) => event(n));
    const { events, droppedBy, failures } = await runSandboxedChain(
      [
        { name: 'first', version: '1.0.0', sandbox: first },
        { name: 'second', version: '1.0.0', sandbox: second },
      ],
      input,
    );
    expect(events).toHaveLength(1000);
    expect(events.map((e) => e?.uuid ?? null)).toEqual(input.map((e, n) => (n === 550 ? null : e.uuid)));
    expect(droppedBy[550]).toBe('first (1.0.0)');
    expect(failures.map((failure) => [failure.step.name, failure.index, failure.error.message])).toEqual([
      ['first', 300, 'first@1.0.0 processEvent: Error: bad 300'],
      ['second', 999, 'second@1.0.0 processEvent: Error: bad 999'],
    ]);
    expect(events[300]!.properties).toEqual({ n: 300, second: 300, $plugins_succeeded: ['second (1.0.0)'], $plugins_failed: ['first (1.0.0)'] });
    expect(events[999]!.properties).toEqual({ n: 999, first: true, $plugins_succeeded: ['first (1.0.0)'], $plugins_failed: ['second (1.0.0)'] });
    expect(events[1]!.properties).toEqual({ n: 1, first: true, second: 1, $plugins_succeeded: ['first (1.0.0)', 'second (1.0.0)'] });
  });

  it('provides the documented globals and bridges meta to the host', async () => {
    const s = sandbox(`export default { async processEvent(e, meta) {
      const url = new URL('https://example.com/a?utm_campaign=x&b=1#h');
      url.searchParams.set('b', '2');
      const bytes = new TextEncoder().encode('héllo');
      e.properties.out = {
        campaign: url.searchParams.get('utm_campaign'), href: url.href, host: url.hostname,
        decoded: new TextDecoder().decode(bytes), len: bytes.length,
        b64: btoa('hi'), unb64: atob('aGk='), uuid: crypto.randomUUID().length,
        clone: structuredClone({ a: [1, { b: 2 }] }), retry: new RetryError('x').name,
        geo: (await meta.geoip.locate('8.8.8.8'))?.country?.isoCode ?? null,
        counter: await meta.cache.incr('k'),
      };
      await meta.storage.set('last', e.uuid);
      console.log('hello', { a: 1 });
      return e; } }`);
    await s.start();
    const { output } = await s.processBatch(JSON.stringify([event(0)]));
    expect(JSON.parse(batchEventsJson(output))[0].properties.out).toEqual({
      campaign: 'x', href: 'https://example.com/a?utm_campaign=x&b=2#h', host: 'example.com',
      decoded: 'héllo', len: 6, b64: 'aGk=', unb64: 'hi', uuid: 36, clone: { a: [1, { b: 2 }] }, retry: 'RetryError',
      geo: 'US', counter: 1,
    });
    expect(storage.get('last')).toBe('u0');
    expect(logs).toContainEqual({ level: 'info', message: 'hello {"a":1}' });
  });

  it('stops an infinite loop, records ERR_PLUGIN_TIMEOUT and recovers with a new isolate', async () => {
    const s = sandbox(`let calls = 0; export default { processEvent(e) { if (e.properties.n === 1) { while (true) {} } return e; } }`);
    await s.start();
    await expect(s.processBatch(JSON.stringify([event(1)]))).rejects.toMatchObject({ code: 'ERR_PLUGIN_TIMEOUT', plugin: 'p', version: '1.0.0', hook: 'processEvent' });
    const { outcomes } = await s.processBatch(JSON.stringify([event(0)]));
    expect(outcomes).toEqual([1]);
    expect(s.restarts).toBe(1);
  });

  it('stops a memory bomb with ERR_PLUGIN_MEMORY', async () => {
    const s = sandbox(`export default { processEvent(e) { const a = []; while (true) a.push(new Array(100000).fill(Math.random())); } }`, {
      memoryLimitMb: 16,
      timeoutMs: 10_000,
    });
    await s.start();
    await expect(s.processBatch(JSON.stringify([event(0)]))).rejects.toMatchObject({ code: 'ERR_PLUGIN_MEMORY' });
    expect(s.restarts).toBe(1);
  });

  it('gives plugin code no way out of the isolate', async () => {
    const s = sandbox(`export default { async processEvent(e) {
      const probe = (f) => { try { return String(f()); } catch (error) { return 'threw ' + error.name; } };
      e.properties.process = probe(() => typeof process);
      e.properties.require = probe(() => typeof require);
      e.properties.ctor = probe(() => ({}).constructor.constructor('return typeof process')());
      e.properties.ctorProcess = probe(() => ({}).constructor.constructor('return process')());
      e.properties.fnProto = probe(() => ({}).constructor.constructor('return this')() === globalThis);
      e.properties.globals = Object.getOwnPropertyNames(globalThis).filter((k) => /^(_?ivm|host[A-Za-z]*|Reference|ExternalCopy|require|process|module|exports|global)$/.test(k)).join(',');
      e.properties.imported = await import('node:fs').then(() => 'imported', (error) => 'rejected');
      e.properties.stackHook = probe(() => { Error.prepareStackTrace = (error, sites) => sites; return typeof Error.prepareStackTrace; });
      e.properties.fetchError = await fetch('http://127.0.0.1:1/').then(() => 'ok', (error) => typeof error.stack);
      Object.prototype.reference = true;
      e.properties.afterPollution = (await fetch('data:text/plain,hi').then((r) => r.text()).catch(() => 'fetch-failed'));
      return e; } }`);
    await s.start();
    const { output } = await s.processBatch(JSON.stringify([event(0)]));
    const props = JSON.parse(batchEventsJson(output))[0].properties;
    expect(props).toMatchObject({
      process: 'undefined',
      require: 'undefined',
      ctor: 'undefined',
      ctorProcess: 'threw ReferenceError',
      fnProto: 'true',
      globals: '',
      imported: 'rejected',
      stackHook: 'threw TypeError',
      fetchError: 'string',
    });
    expect(typeof props.afterPollution).toBe('string');
  });

  it('rejects plugin code that imports anything', async () => {
    const s = sandbox(`import fs from 'node:fs'; export default { processEvent(e) { return e; } }`);
    await expect(s.start()).rejects.toMatchObject({ code: 'ERR_PLUGIN_LOAD' });
  });
});
