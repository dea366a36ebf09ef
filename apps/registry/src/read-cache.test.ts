// The fast read path (issue 8): cached metadata documents stay correct when another registry PROCESS
// changes the shared data folder, ETags give 304s, download counts are batched yet become visible, and
// a blob verified once is still refused (502) after it is corrupted.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FsBlobStore, integrityToHex } from './blobs.js';
import { RegistryClient } from './client.js';
import { type MongoDataset, mongoDataset, mongoSkipReason, skipWithoutMongo } from './engines.test-helpers.js';
import { type RunningRegistry, startRegistry } from './index.js';
import { fixtureManifest, packPlugin } from './testing.js';

const mainScript = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const adminToken = 'read-cache-admin';
const silent = pino({ level: 'silent' });
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-read-cache-'));
  dirs.push(dir);
  return dir;
}

/** A `plugline-registry` child process on `dataDir`; resolves with its URL. */
async function spawnRegistry(dataDir: string, mongoUri = ''): Promise<{ child: ChildProcess; url: string }> {
  if (!existsSync(mainScript)) throw new Error('apps/registry/dist/main.js is missing: build @plugline/registry first');
  const child = spawn(process.execPath, [mainScript], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PLUGLINE_DATA_DIR: dataDir, PLUGLINE_ADMIN_TOKEN: adminToken, LOG_LEVEL: 'info', MONGODB_URI: mongoUri, PLUGLINE_REGISTRY_BLOBS: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /registry listening on (http:\/\/[^"\s]+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the registry process exited with ${code}: ${output}`)));
  });
  return { child, url };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const datasets: MongoDataset[] = [];
afterAll(async () => {
  for (const dataset of datasets) await dataset.drop();
});

/** A fresh dataset: a data folder (embedded), or a MongoDB database (each process with its own folder). */
async function freshStorage(engine: 'embedded' | 'mongodb'): Promise<{ dataDir: string; mongoUri?: string }> {
  if (engine === 'embedded') return { dataDir: await tempDir() };
  const dataset = mongoDataset();
  datasets.push(dataset);
  return { dataDir: await tempDir(), mongoUri: dataset.uri };
}

describe.each(['embedded', 'mongodb'] as const)('cached metadata documents across two registry processes: %s', (engine) => {
  let child: ChildProcess | undefined;
  let reader: RunningRegistry; // this process: reads (and caches)
  let local: RegistryClient;
  let other: RegistryClient; // the child process: makes changes behind the reader's back
  if (engine === 'mongodb') skipWithoutMongo();

  beforeAll(async () => {
    if (engine === 'mongodb' && mongoSkipReason) return;
    const storage = await freshStorage(engine);
    const spawned = await spawnRegistry(engine === 'mongodb' ? await tempDir() : storage.dataDir, storage.mongoUri);
    child = spawned.child;
    reader = await startRegistry({ port: 0, ...storage, adminToken, logger: silent, downloadFlushIntervalMs: 50 });
    local = new RegistryClient({ url: reader.url, token: adminToken });
    other = new RegistryClient({ url: spawned.url, token: adminToken });
  });

  afterAll(async () => {
    await stop(child);
    await reader?.close();
  });

  it('serves every kind of change made through the other process at once (publish, dist-tags, deprecations, maintainers)', async () => {
    const name = '@cache/geo';
    await other.publish(await packPlugin({ manifest: fixtureManifest(name, '1.0.0', { description: 'first' }) }), { name, version: '1.0.0' });
    await other.publish(await packPlugin({ manifest: fixtureManifest('@cache/sibling', '1.0.0') }), { name: '@cache/sibling', version: '1.0.0' });
    // Warm the reader's cache, twice, so a stale document would be served from it.
    expect(Object.keys((await local.getPlugin(name)).versions)).toEqual(['1.0.0']);
    expect((await local.getPlugin('@cache/sibling')).maintainers).toEqual(['admin']);

    await other.publish(await packPlugin({ manifest: fixtureManifest(name, '1.1.0', { description: 'second' }) }), { name, version: '1.1.0' });
    let doc = await local.getPlugin(name);
    expect(Object.keys(doc.versions)).toEqual(['1.0.0', '1.1.0']);
    expect(doc).toMatchObject({ description: 'second', distTags: { latest: '1.1.0' } });

    await other.setDistTag(name, 'stable', '1.0.0');
    expect((await local.getPlugin(name)).distTags).toEqual({ latest: '1.1.0', stable: '1.0.0' });
    await other.setDistTag(name, 'latest', '1.0.0');
    expect(await local.getPlugin(name)).toMatchObject({ description: 'first', distTags: { latest: '1.0.0', stable: '1.0.0' } });
    await other.deleteDistTag(name, 'stable');
    expect((await local.getPlugin(name)).distTags).toEqual({ latest: '1.0.0' });

    await other.deprecate(name, '1.0.0', 'use 1.1');
    expect((await local.getPlugin(name)).versions['1.0.0']?.deprecated).toBe('use 1.1');
    await other.deprecate(name, '1.0.0', '');
    expect((await local.getPlugin(name)).versions['1.0.0']).not.toHaveProperty('deprecated');

    await other.addMaintainer(name, 'bob');
    expect((await local.getPlugin(name)).maintainers).toEqual(['admin', 'bob']);
    // The scope owns both plugins, so the sibling's cached document moves too.
    expect((await local.getPlugin('@cache/sibling')).maintainers).toEqual(['admin', 'bob']);
    await other.removeMaintainer(name, 'bob');
    expect((await local.getPlugin(name)).maintainers).toEqual(['admin']);
    expect((await local.getPlugin('@cache/sibling')).maintainers).toEqual(['admin']);

    // And the same through the reader itself.
    await local.setDistTag(name, 'latest', '1.1.0');
    doc = await other.getPlugin(name);
    expect(doc.distTags).toEqual({ latest: '1.1.0' });
    // Both processes serve the same document (only the base of the tarball URLs differs).
    expect(await local.getPlugin(name)).toEqual(JSON.parse(JSON.stringify(doc).replaceAll(other.url, local.url)));
  });

  it('re-resolves cached specs after a publish or a dist-tag move through the other process', async () => {
    const name = 'resolved';
    await other.publish(await packPlugin({ manifest: fixtureManifest(name, '1.0.0') }), { name, version: '1.0.0' });
    await other.setDistTag(name, 'stable', '1.0.0');
    for (let index = 0; index < 2; index++) {
      expect((await local.resolve(name, '^1')).version).toBe('1.0.0');
      expect((await local.resolve(name, 'stable')).version).toBe('1.0.0');
    }
    await other.publish(await packPlugin({ manifest: fixtureManifest(name, '1.2.0') }), { name, version: '1.2.0' });
    expect((await local.resolve(name, '^1')).version).toBe('1.2.0');
    expect((await local.resolve(name, 'stable')).version).toBe('1.0.0');
    await other.setDistTag(name, 'stable', '1.2.0');
    expect((await local.resolve(name, 'stable')).version).toBe('1.2.0');
    await other.deprecate(name, '1.2.0', 'broken');
    expect(await local.resolve(name, '^1')).toMatchObject({ version: '1.2.0', deprecated: 'broken' });
  });

  it('answers 304 to a matching If-None-Match, and a new ETag after a change or a download', async () => {
    const name = 'etag-plugin';
    await other.publish(await packPlugin({ manifest: fixtureManifest(name, '1.0.0') }), { name, version: '1.0.0' });
    const url = `${reader.url}/api/v1/plugins/${name}`;
    const first = await fetch(url);
    const etag = first.headers.get('etag');
    expect(first.status).toBe(200);
    expect(etag).toMatch(/^"[\w-]+-0"$/);
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect((await fetch(url, { headers: { 'if-none-match': etag! } })).status).toBe(304);
    expect((await fetch(url, { headers: { 'if-none-match': `W/${etag}, "other"` } })).status).toBe(304);
    expect((await fetch(url, { headers: { 'if-none-match': '"stale"' } })).status).toBe(200);

    await other.setDistTag(name, 'beta', '1.0.0');
    const changed = await fetch(url, { headers: { 'if-none-match': etag! } });
    expect(changed.status).toBe(200);
    expect(((await changed.json()) as { distTags: unknown }).distTags).toEqual({ latest: '1.0.0', beta: '1.0.0' });
    const afterChange = changed.headers.get('etag');
    expect(afterChange).not.toBe(etag);

    await local.download(name, '1.0.0');
    const downloaded = await fetch(url, { headers: { 'if-none-match': afterChange! } });
    expect(downloaded.status).toBe(200);
    expect(((await downloaded.json()) as { downloads: { total: number } }).downloads.total).toBe(1);
    expect(downloaded.headers.get('etag')).not.toBe(afterChange);
  });

  it('batches download counts: visible at once in the same process, in the store after the flush, on the other process soon after', async () => {
    const name = 'counted';
    await local.publish(await packPlugin({ manifest: fixtureManifest(name, '1.0.0') }), { name, version: '1.0.0' });
    const before = (await reader.store.getDownloads(name)).total;
    expect(before).toBe(0);
    for (let index = 0; index < 5; index++) await local.download(name, '1.0.0');
    // This process counts its own downloads at once, written or not.
    expect((await local.getPlugin(name)).downloads.total).toBe(5);
    // The batch lands in the store (flush every 50 ms here) and so on the other process.
    await expect.poll(async () => (await reader.store.getDownloads(name)).total, { timeout: 5000 }).toBe(5);
    await expect.poll(async () => (await other.getPlugin(name)).downloads.total, { timeout: 5000 }).toBe(5);

    // The child flushes every second: its downloads reach this process within a couple of seconds.
    for (let index = 0; index < 3; index++) await other.download(name, '1.0.0');
    await expect.poll(async () => (await local.getPlugin(name)).downloads, { timeout: 5000, interval: 200 }).toEqual({
      total: 8,
      versions: { '1.0.0': 8 },
      daily: [{ day: new Date().toISOString().slice(0, 10), count: 8 }],
    });
    // Search sees them too.
    expect((await local.search({ q: name })).results[0]).toMatchObject({ name, downloads: 8 });
  });

  it('writes pending download counts when a registry closes', async () => {
    const storage = await freshStorage(engine);
    // An interval far beyond the test: only close() can write the counts.
    const first = await startRegistry({ port: 0, ...storage, adminToken, logger: silent, downloadFlushIntervalMs: 3_600_000 });
    const client = new RegistryClient({ url: first.url, token: adminToken });
    await client.publish(await packPlugin({ manifest: fixtureManifest('closing', '1.0.0') }), { name: 'closing', version: '1.0.0' });
    await client.download('closing', '1.0.0');
    await client.download('closing', '1.0.0');
    expect((await first.store.getDownloads('closing')).total).toBe(0);
    await first.close();
    const second = await startRegistry({ port: 0, ...storage, adminToken, logger: silent });
    try {
      expect((await new RegistryClient({ url: second.url }).getPlugin('closing')).downloads.total).toBe(2);
    } finally {
      await second.close();
    }
  });
});

describe('tarball integrity with verify-once', () => {
  let registry: RunningRegistry;
  let client: RegistryClient;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    registry = await startRegistry({ port: 0, dataDir: await tempDir(), adminToken, logger: pino({ level: 'warn' }, sink) });
    client = new RegistryClient({ url: registry.url, token: adminToken });
  });
  afterAll(async () => {
    await registry?.close();
  });

  const fixedTime = new Date('2026-01-01T00:00:00Z');

  async function publishAndServe(name: string): Promise<string> {
    const tarball = await packPlugin({ manifest: fixtureManifest(name, '1.0.0') });
    const { integrity } = await client.publish(tarball, { name, version: '1.0.0' });
    const hex = integrityToHex(integrity);
    const file = join((registry.blobs as FsBlobStore).root, hex.slice(0, 2), hex);
    // A whole-second mtime, so a test can put it back exactly after tampering.
    await utimes(file, fixedTime, fixedTime);
    // Served (and so verified and remembered) twice before anything goes wrong.
    for (let index = 0; index < 2; index++) expect(Buffer.from(await client.download(name, '1.0.0')).equals(Buffer.from(tarball))).toBe(true);
    return file;
  }

  async function expect502(name: string): Promise<void> {
    const response = await fetch(`${registry.url}/api/v1/plugins/${name}/-/1.0.0.tgz`);
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERR_TARBALL_INTEGRITY');
  }

  it('refuses a blob flipped in place with the same size and its old mtime put back', async () => {
    const file = await publishAndServe('flipped');
    const { size } = await stat(file);
    const handle = await open(file, 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 100);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, 100);
    } finally {
      await handle.close();
    }
    await utimes(file, fixedTime, fixedTime);
    // Same size, same mtime (to the nanosecond): only the ctime (which user space cannot set) moved.
    const after = await stat(file, { bigint: true });
    expect({ size: Number(after.size), mtimeNs: after.mtimeNs }).toEqual({ size, mtimeNs: BigInt(fixedTime.getTime()) * 1_000_000n });
    await expect502('flipped');
    await expect502('flipped'); // and again: a bad blob is never remembered as good
  });

  it('refuses a blob replaced by a rename, and one rewritten whole', async () => {
    const renamed = await publishAndServe('renamed');
    const bytes = await readFile(renamed);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
    await writeFile(`${renamed}.swap`, bytes);
    await rename(`${renamed}.swap`, renamed);
    await expect502('renamed');

    const rewritten = await publishAndServe('rewritten');
    await writeFile(rewritten, 'flipped bits');
    await expect502('rewritten');
  });

  it('still logs the failure at warn level (no per-request lines there)', () => {
    const failures = lines.filter((line) => line.msg === 'request failed');
    expect(failures.length).toBeGreaterThanOrEqual(4);
    expect(lines.filter((line) => line.msg === 'request completed')).toEqual([]);
  });
});
