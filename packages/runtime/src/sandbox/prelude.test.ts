// The bundled prelude's security properties, from inside an isolate (hostile plugin code).
import { afterEach, describe, expect, it } from 'vitest';
import { createSandboxHost, MemoryCache } from './host.js';
import { PRELUDE_SCRIPT, RUNNER_SOURCE } from './prelude.js';
import { batchEventsJson, PluginSandbox } from './sandbox.js';

const sandboxes: PluginSandbox[] = [];
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});
const event = { uuid: 'u0', event: 'e', distinct_id: 'd0', properties: { n: 0 }, timestamp: '2026-01-01T00:00:00.000Z' };

function sandbox(code: string, stored: Map<string, unknown>) {
  const host = createSandboxHost({
    sink: { log: () => {}, metric: () => {} },
    storage: { get: (key) => (stored.get(key) as never) ?? null, set: (key, value) => void stored.set(key, value), del: (key) => void stored.delete(key) },
    cache: new MemoryCache(),
    postgres: false,
  });
  const created = new PluginSandbox({ name: 'p', version: '1.0.0', integrity: `sha512-${Math.random()}`, code, config: {}, host, timeoutMs: 500 });
  sandboxes.push(created);
  return created;
}

describe('the bundled prelude', () => {
  it('runs in strict mode and puts no bundle variable on the global object', () => {
    expect(PRELUDE_SCRIPT.startsWith("(function plugline_prelude(hostSync, hostAsync, init, pending) {\n'use strict';")).toBe(true);
    expect(RUNNER_SOURCE.startsWith("'use strict';")).toBe(true);
  });

  it('keeps the bridge and the runner working when plugin code replaces JSON, Reflect.apply and Map methods at load', async () => {
    const stored = new Map<string, unknown>();
    const s = sandbox(
      `JSON.parse = () => ({ hijacked: true });
      JSON.stringify = () => '"hijacked"';
      Reflect.apply = () => { throw new Error('intercepted'); };
      Map.prototype.get = () => 'hijacked';
      export default { async processEvent(e, { storage, geoip }) {
        await storage.set('k', { v: e.properties.n });
        e.properties.read = await storage.get('k');
        e.properties.strict = (function () { return this === undefined; })();
        e.properties.bundleGlobal = typeof globalThis.__pluglineIsolate;
        return e;
      } }`,
      stored,
    );
    await s.start();
    const { outcomes, output } = await s.processBatch(JSON.stringify([event]), 1);
    expect(outcomes).toEqual([1]);
    expect(stored.get('k')).toEqual({ v: 0 });
    // The plugin's own JSON is hijacked, so read the line with Node's.
    const [out] = JSON.parse(batchEventsJson(output));
    expect(out.properties).toEqual({ n: 0, read: { v: 0 }, strict: true, bundleGlobal: 'undefined' });
  });

  it('makes the Buffer global on first read, as a plain global a plugin may replace', async () => {
    const stored = new Map<string, unknown>();
    const s = sandbox(
      `export default { processEvent(e) {
        const before = Object.getOwnPropertyDescriptor(globalThis, 'Buffer');
        const encoded = Buffer.from('hi').toString('base64');
        const after = Object.getOwnPropertyDescriptor(globalThis, 'Buffer');
        globalThis.Buffer = 'replaced';
        e.properties = { lazy: typeof before.get, encoded, data: 'value' in after && after.writable && !after.enumerable, replaced: Buffer };
        return e;
      } }`,
      stored,
    );
    await s.start();
    const { output } = await s.processBatch(JSON.stringify([event]), 1);
    expect(JSON.parse(batchEventsJson(output))[0].properties).toEqual({ lazy: 'function', encoded: 'aGk=', data: true, replaced: 'replaced' });
  });
});
