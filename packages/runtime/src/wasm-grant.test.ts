// WebAssembly is a capability the operator grants (`wasm`), against the real runtime and registry:
// without the grant a plugin has no WebAssembly at all (its memories would escape the isolate's heap
// cap); with it, WebAssembly is there with bounded memories; a plugin that requests it is not installed
// without the grant.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime } from './index.js';
import { addPlugin } from './project.js';
import { type FixturePlugin, startTestRegistry, testAdminToken } from './test/helpers.js';

// Reports what it can reach of WebAssembly: the global, and a memory past the bound when it has one.
const probe = `export default { processEvent(e) {
  e.properties.wasm = typeof WebAssembly;
  if (typeof WebAssembly === 'object') {
    try { new WebAssembly.Memory({ initial: 1, maximum: 16 }); e.properties.small = 'ok'; } catch (error) { e.properties.small = error.message; }
    try { new WebAssembly.Memory({ initial: 1, maximum: 4096 }); e.properties.huge = 'ok'; } catch (error) { e.properties.huge = 'refused'; }
  }
  return e;
} };`;

const plugins: FixturePlugin[] = [
  { name: 'wasm-sneak', code: probe },
  { name: 'wasm-user', capabilities: ['wasm'], code: probe },
];
let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  registry = await startTestRegistry(plugins);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry?.close();
});

async function run(name: string, grants: string[]): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-wasm-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await addPlugin(dir, { name, registryUrl: registry.url, grants });
  const running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: pino({ level: 'silent' }), schedule: false });
  cleanup.push(() => running.close());
  await running.runtime.ingest([{ uuid: crypto.randomUUID(), event: 'e', distinct_id: 'u', properties: {}, timestamp: new Date().toISOString() }]);
  return running.runtime.queryEvents({})[0]!.properties;
}

describe('the wasm capability', () => {
  it('without the grant, a plugin has no WebAssembly (even one that never asked for it)', async () => {
    expect((await run('wasm-sneak', [])).wasm).toBe('undefined');
  });

  it('with the grant, WebAssembly is there and its memories are bounded', async () => {
    expect(await run('wasm-user', ['wasm'])).toMatchObject({ wasm: 'object', small: 'ok', huge: 'refused' });
  });

  it('a plugin that requests wasm is not installed without the grant, and the error names the flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugline-wasm-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await expect(addPlugin(dir, { name: 'wasm-user', registryUrl: registry.url })).rejects.toMatchObject({
      code: 'ERR_CAPABILITY_DENIED',
      message: expect.stringContaining('--allow-wasm'),
    });
  });
});
