import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { hardenSource } from './harden.js';
import { MemoryCache, createSandboxHost } from './host.js';
import { PluginSandbox } from './sandbox.js';

const MB = 1024 * 1024;
// A module declaring one memory: without a maximum, and with maximum 2 pages.
const noMax = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01]);
const max2 = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x01, 0x01, 0x02]);

function realm(options: { allowWasm: boolean; wasmMemoryBytes: number }) {
  const context = vm.createContext({});
  vm.runInContext(hardenSource(options), context);
  return (code: string) => vm.runInContext(code, context) as unknown;
}

describe('hardenRealm (in a node:vm realm)', () => {
  it('removes WebAssembly unless granted', () => {
    expect(realm({ allowWasm: false, wasmMemoryBytes: 64 * MB })('typeof WebAssembly')).toBe('undefined');
    expect(realm({ allowWasm: true, wasmMemoryBytes: 64 * MB })('typeof WebAssembly.Memory')).toBe('function');
  });

  it('refuses resizable ArrayBuffers and growable SharedArrayBuffers, by every way to the constructor', () => {
    const run = realm({ allowWasm: false, wasmMemoryBytes: 64 * MB });
    expect(run('new ArrayBuffer(8).byteLength')).toBe(8);
    expect(run('new Uint8Array(4).buffer instanceof ArrayBuffer')).toBe(true);
    expect(run('class Big extends ArrayBuffer {}; new Big(3).byteLength')).toBe(3);
    expect(run('new ArrayBuffer(8).slice(2).byteLength')).toBe(6);
    for (const code of [
      'new ArrayBuffer(0, { maxByteLength: 2 ** 30 })',
      'new (new Uint8Array(1).buffer.constructor)(0, { maxByteLength: 2 ** 30 })',
      'new SharedArrayBuffer(0, { maxByteLength: 2 ** 30 })',
      'Reflect.construct(Object.getPrototypeOf(new ArrayBuffer(1)).constructor, [0, { maxByteLength: 2 ** 30 }])',
    ]) {
      expect(() => run(code), code).toThrow(/maxByteLength/);
    }
    // A getter cannot answer one thing to the check and another to V8: the options never reach it.
    expect(run('let n = 0; const b = new ArrayBuffer(4, { get maxByteLength() { return n++ === 0 ? undefined : 2 ** 30; } }); b.resizable')).toBe(false);
    expect(run('try { ArrayBuffer.prototype.constructor = function () {}; } catch {} ArrayBuffer.prototype.constructor === ArrayBuffer')).toBe(true);
  });

  it('bounds WebAssembly memories by one budget when granted', () => {
    const run = realm({ allowWasm: true, wasmMemoryBytes: 64 * MB });
    expect(run('new WebAssembly.Memory({ initial: 1024 }).buffer.byteLength')).toBe(64 * MB);
    expect(() => run('new WebAssembly.Memory({ initial: 1 })')).toThrow(/limit is 67108864/);
    const other = realm({ allowWasm: true, wasmMemoryBytes: 1 * MB });
    expect(() => other('new WebAssembly.Memory({ initial: 1, maximum: 65536 })')).toThrow(/limit is 1048576/);
    expect(() => other('new WebAssembly.Memory.prototype.constructor({ initial: 1000 })')).toThrow(/limit/);
    (globalThis as { __bytes?: unknown }).__bytes = undefined;
    const context = vm.createContext({ noMax, max2 });
    vm.runInContext(hardenSource({ allowWasm: true, wasmMemoryBytes: 4 * 65_536 }), context);
    expect(() => vm.runInContext('new WebAssembly.Module(noMax)', context)).toThrow(/must declare a maximum/);
    expect(vm.runInContext('new WebAssembly.Instance(new WebAssembly.Module(max2)) instanceof WebAssembly.Instance', context)).toBe(true);
    expect(vm.runInContext('new WebAssembly.Instance(new WebAssembly.Module(max2)) instanceof WebAssembly.Instance', context)).toBe(true);
    // 2 + 2 pages used: a third instance is over the 4-page budget.
    expect(() => vm.runInContext('new WebAssembly.Instance(new WebAssembly.Module(max2))', context)).toThrow(/limit is 262144/);
    expect(vm.runInContext('typeof WebAssembly.instantiateStreaming', context)).toBe('undefined');
  });
});

describe('memory outside the heap cap, in a real isolate (64 MB heap)', () => {
  const host = createSandboxHost({ sink: { log: () => {}, metric: () => {} }, storage: { get: () => null, set: () => {}, del: () => {} }, cache: new MemoryCache(), postgres: false });
  const sandboxes: PluginSandbox[] = [];
  afterEach(() => {
    for (const s of sandboxes.splice(0)) s.dispose();
  });
  const hostile = `export default { async processEvent(e) {
    const outcome = [];
    const attempt = (label, make) => { try { make(); outcome.push(label + ':ok'); } catch (error) { outcome.push(label + ':' + (error.code || error.name)); } };
    attempt('wasm', () => { const hoard = []; for (let i = 0; i < 8; i++) { const m = new WebAssembly.Memory({ initial: 1024 }); new Uint8Array(m.buffer).fill(1); hoard.push(m); } globalThis.hoard = hoard; });
    attempt('resizable', () => { const b = new ArrayBuffer(0, { maxByteLength: 2 ** 30 }); b.resize(2 ** 30); new Uint8Array(b).fill(1); globalThis.b = b; });
    attempt('growable', () => { const b = new SharedArrayBuffer(0, { maxByteLength: 2 ** 30 }); b.grow(2 ** 30); new Uint8Array(b).fill(1); globalThis.s = b; });
    e.properties.outcome = outcome.join(',');
    return e;
  } };`;
  const event = { uuid: 'u1', event: 'e', distinct_id: 'd', properties: {}, timestamp: '2026-01-01T00:00:00.000Z' };

  async function run(allowWasm: boolean) {
    const sandbox = new PluginSandbox({ name: 'hoarder', version: '1.0.0', integrity: `sha512-h${allowWasm}`, code: hostile, config: {}, host, memoryLimitMb: 64, allowWasm });
    sandboxes.push(sandbox);
    const rss = process.memoryUsage().rss;
    const { output } = await sandbox.processBatch(JSON.stringify([event]), 1);
    const heap = (await sandbox.heapStatistics())!;
    const grown = process.memoryUsage().rss - rss;
    return { outcome: (JSON.parse(output[1]!) as { properties: { outcome: string } }).properties.outcome, grown, heap };
  }

  it('without the grant: no WebAssembly, no resizable or growable buffers; RSS grows < 150 MB', async () => {
    const { outcome, grown, heap } = await run(false);
    expect(outcome).toBe('wasm:ReferenceError,resizable:ERR_QUOTA_EXCEEDED,growable:ERR_QUOTA_EXCEEDED');
    expect(grown).toBeLessThan(150 * MB);
    expect(heap.total_heap_size + heap.externally_allocated_size).toBeLessThan(64 * MB);
  });

  it('with the grant: one 64 MB memory, then ERR_QUOTA_EXCEEDED; RSS grows < 150 MB', async () => {
    const { outcome, grown } = await run(true);
    expect(outcome).toBe('wasm:ERR_QUOTA_EXCEEDED,resizable:ERR_QUOTA_EXCEEDED,growable:ERR_QUOTA_EXCEEDED');
    expect(grown).toBeLessThan(150 * MB);
  });
});
