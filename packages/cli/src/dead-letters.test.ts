import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { fixtureManifest, packPlugin } from '@plugline/registry/testing';
import { type RunningRuntime, addPlugin, startRuntime } from '@plugline/runtime';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, childEnv, makeTempDir, runCli } from './test-support/fixtures.js';

// `plugline dead-letters list|replay` against a real runtime whose exporter's receiver refuses batches.
const adminToken = 'dead-letters-admin';
let root: string;
let registry: RunningRegistry;
let runtime: RunningRuntime;
let receiver: Server;
let status = 400;
const delivered = new Set<string>();

const exporterCode = `export async function exportEvents(events, { config }) {
  const response = await fetch(config.url, { method: 'POST', body: JSON.stringify(events.map((e) => e.uuid)) });
  if (!response.ok) throw new Error('receiver refused ' + response.status);
}
`;

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('dead-letters');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry'), adminToken, logger: pino({ level: 'silent' }) });
  const manifest = fixtureManifest('dl-exporter', '1.0.0', { config: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] } });
  await new RegistryClient({ url: registry.url, token: adminToken }).publish(await packPlugin({ manifest, files: { 'index.js': exporterCode } }), { name: 'dl-exporter', version: '1.0.0' });
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (status === 200) for (const uuid of JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[]) delivered.add(uuid);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const dir = path.join(root, 'runtime');
  await addPlugin(dir, { name: 'dl-exporter', spec: '1.0.0', config: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/in` }, registryUrl: registry.url, grants: ['net:127.0.0.1'] });
  runtime = await startRuntime({ dir, port: 0, logger: pino({ level: 'silent' }), schedule: false, exportTickMs: 20, exports: { maxAgeMs: 0 } });
});

afterAll(async () => {
  await runtime?.close();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('plugline dead-letters', () => {
  it('lists dead letters and replays them by plugin; a replay with no ids and no filter is a usage error', async () => {
    const uuids = [randomUUID(), randomUUID()];
    for (const uuid of uuids) {
      await fetch(`${runtime.url}/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event: 'e', distinct_id: 'u', uuid }) });
      await runtime.runtime.flushExports();
    }
    // The commands find the runtime's admin token in its folder (PLUGLINE_RUNTIME_DIR, or --dir).
    const env = childEnv({ PLUGLINE_RUNTIME_URL: runtime.url, PLUGLINE_RUNTIME_DIR: path.join(root, 'runtime') });
    const listed = await runCli(['--json', 'dead-letters', 'list', '--plugin', 'dl-exporter'], { env });
    expect(listed.code, listed.stderr).toBe(0);
    const { deadLetters } = JSON.parse(listed.stdout) as { deadLetters: { plugin: string; code: string; eventCount: number }[] };
    expect(deadLetters.map((d) => [d.plugin, d.code, d.eventCount])).toEqual([
      ['dl-exporter', 'ERR_EXPORT_FAILED', 1],
      ['dl-exporter', 'ERR_EXPORT_FAILED', 1],
    ]);
    const human = await runCli(['dead-letters', 'list', '--runtime', runtime.url, '--dir', path.join(root, 'runtime')], { env: childEnv() });
    expect(human.stdout).toMatch(/^id +plugin +hook +code/);
    expect(human.stdout).toContain('receiver refused 400');

    const usage = await runCli(['dead-letters', 'replay'], { env });
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim()).toMatch(/^error ERR_USAGE: give ids, a filter/);
    const badDate = await runCli(['dead-letters', 'replay', '--from', 'yesterday-ish'], { env });
    expect(badDate.code).toBe(1);
    expect(badDate.stderr.trim()).toMatch(/^error ERR_BAD_REQUEST: from must be a date/);

    status = 200;
    const replayed = await runCli(['dead-letters', 'replay', '--plugin', 'dl-exporter'], { env });
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout.trim()).toBe('replayed 2 dead letters');
    await runtime.runtime.flushExports();
    expect([...delivered].sort()).toEqual([...uuids].sort());
    const empty = await runCli(['dead-letters', 'list'], { env });
    expect(empty.stdout.trim()).toBe('no dead letters');
    const down = await runCli(['dead-letters', 'list', '--runtime', 'http://127.0.0.1:1'], { env });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/error ERR_INTERNAL: the runtime at http:\/\/127\.0\.0\.1:1 could not be reached/);
  });
});
