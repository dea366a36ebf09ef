import { readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PluglineError } from '@plugline/sdk';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { type BlobStore, FsBlobStore, GridFsBlobStore, integrityToHex } from './blobs.js';
import { RegistryClient } from './client.js';
import { type MongoDataset, mongoDataset, skipWithoutMongo } from './engines.test-helpers.js';
import { createRegistryApp, type MetadataStore, MongoMetadataStore, SqliteMetadataStore, type StartRegistryOptions, startRegistry } from './index.js';
import { fixtureManifest, packPlugin } from './testing.js';

const silent = pino({ level: 'silent' });
const adminToken = 'durability-admin';
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-durability-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PluglineError);
    return (error as PluglineError).code;
  }
  throw new Error('expected a rejection');
}

/** A wrapper that makes one method of an object throw, as a crash at that step would. */
function failing<T extends object>(target: T, method: keyof T, message: string): T {
  return new Proxy(target, {
    get(object, property) {
      if (property === method) {
        return async () => {
          throw new Error(message);
        };
      }
      const value = Reflect.get(object, property, object) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}

/** The same data again after a restart: a data folder (embedded), or a MongoDB database plus its blobs. */
type Storage = Omit<StartRegistryOptions, 'port' | 'adminToken' | 'logger'>;

/** Every engine the restart and failed-publish tests run on; the MongoDB ones skip without a server. */
const engines: { engine: string; mongo: boolean; open(): Promise<Storage> }[] = [
  { engine: 'embedded', mongo: false, open: async () => ({ dataDir: await tempDir() }) },
  {
    engine: 'mongodb+gridfs',
    mongo: true,
    async open() {
      const dataset = mongoDataset();
      datasets.push(dataset);
      return { dataDir: await tempDir(), mongoUri: dataset.uri };
    },
  },
];
const datasets: MongoDataset[] = [];
afterAll(async () => {
  for (const dataset of datasets) await dataset.drop();
});

describe.each(engines)('restart on the same data: $engine', ({ mongo, open: openStorage }) => {
  if (mongo) skipWithoutMongo();
  it('keeps plugins, versions, tarballs, dist-tags, deprecations, maintainers, downloads and tokens', async () => {
    const storage = await openStorage();
    const first = await startRegistry({ port: 0, adminToken, logger: silent, ...storage });
    const admin = new RegistryClient({ url: first.url, token: adminToken });
    const { token, id } = await admin.createToken({ user: 'alice', scopes: ['publish'] });
    let alice = new RegistryClient({ url: first.url, token });
    const v1 = await packPlugin({ manifest: fixtureManifest('@keep/me', '1.0.0') });
    const v2 = await packPlugin({ manifest: fixtureManifest('@keep/me', '1.1.0') });
    await alice.publish(v1, { name: '@keep/me', version: '1.0.0' });
    await alice.publish(v2, { name: '@keep/me', version: '1.1.0' });
    await alice.setDistTag('@keep/me', 'stable', '1.0.0');
    await alice.deprecate('@keep/me', '1.0.0', 'old');
    await alice.addMaintainer('@keep/me', 'bob');
    await alice.download('@keep/me', '1.1.0');
    const before = await alice.getPlugin('@keep/me');
    await first.close();

    // MongoDB: a fresh data folder, so nothing can come from the file system.
    const second = await startRegistry({ port: 0, adminToken, logger: silent, ...storage, ...(storage.mongoUri ? { dataDir: await tempDir() } : {}) });
    try {
      alice = new RegistryClient({ url: second.url, token });
      const after = await alice.getPlugin('@keep/me');
      // Only the port in the absolute tarball URLs may differ.
      expect(JSON.parse(JSON.stringify(after).replaceAll(second.url, 'URL'))).toEqual(JSON.parse(JSON.stringify(before).replaceAll(first.url, 'URL')));
      expect(after.distTags).toEqual({ latest: '1.1.0', stable: '1.0.0' });
      expect(after.versions['1.0.0']?.deprecated).toBe('old');
      expect(after.maintainers).toEqual(['alice', 'bob']);
      expect(after.downloads.total).toBe(1);
      expect(Buffer.from(await alice.download('@keep/me', '1.0.0')).equals(Buffer.from(v1))).toBe(true);
      expect((await alice.resolve('@keep/me', 'stable')).version).toBe('1.0.0');
      // The token survived (hashed) and still publishes; it can still be revoked.
      await alice.publish(await packPlugin({ manifest: fixtureManifest('@keep/me', '1.2.0') }), { name: '@keep/me', version: '1.2.0' });
      expect(await codeOf(alice.publish(v2, { name: '@keep/me', version: '1.1.0' }))).toBe('ERR_VERSION_EXISTS');
      await new RegistryClient({ url: second.url, token: adminToken }).revokeToken(id);
      expect(await codeOf(alice.whoami())).toBe('ERR_UNAUTHORIZED');
    } finally {
      await second.close();
    }
  });
});

describe('no partial state after a failed publish', () => {
  let server: Server | undefined;
  let store: MetadataStore | undefined;
  afterEach(async () => {
    if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
    await store?.close();
    server = undefined;
    store = undefined;
  });

  async function serve(makeBlobs: (blobs: FsBlobStore) => BlobStore, wrapStore: (store: MetadataStore) => MetadataStore, dataDir: string) {
    store = new SqliteMetadataStore(dataDir);
    const blobs = new FsBlobStore(join(dataDir, 'blobs'));
    const app = createRegistryApp({ store: wrapStore(store), blobs: makeBlobs(blobs), adminToken, logger: silent });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server?.once('listening', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, blobs, client: new RegistryClient({ url, token: adminToken }) };
  }

  async function restart(dataDir: string) {
    if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
    await store?.close();
    return serve((blobs) => blobs, (inner) => inner, dataDir);
  }

  it('leaves no version, plugin or owner claim when the blob write fails, and a retry succeeds', async () => {
    const dataDir = await tempDir();
    const { client } = await serve((blobs) => failing(blobs, 'put', 'disk full'), (inner) => inner, dataDir);
    const tarball = await packPlugin({ manifest: fixtureManifest('fragile', '1.0.0') });
    const error = await client.publish(tarball, { name: 'fragile', version: '1.0.0' }).catch((e: unknown) => e as PluglineError);
    expect((error as PluglineError).code).toBe('ERR_INTERNAL');
    expect((error as PluglineError).message).not.toContain('disk full');
    expect(await codeOf(client.getPlugin('fragile'))).toBe('ERR_PLUGIN_NOT_FOUND');
    expect(await store?.getMaintainers('fragile')).toEqual([]);

    const healthy = await restart(dataDir);
    expect((await healthy.client.publish(tarball, { name: 'fragile', version: '1.0.0' })).version).toBe('1.0.0');
    expect(Buffer.from(await healthy.client.download('fragile', '1.0.0')).equals(Buffer.from(tarball))).toBe(true);
  });

  it('leaves only a harmless, reused blob when the metadata write fails', async () => {
    const dataDir = await tempDir();
    const { client, blobs } = await serve((inner) => inner, (inner) => failing(inner, 'publishVersion', 'crash'), dataDir);
    const tarball = await packPlugin({ manifest: fixtureManifest('halfway', '1.0.0') });
    expect(await codeOf(client.publish(tarball, { name: 'halfway', version: '1.0.0' }))).toBe('ERR_INTERNAL');
    expect(await codeOf(client.getPlugin('halfway'))).toBe('ERR_PLUGIN_NOT_FOUND');
    expect(await codeOf(client.download('halfway', '1.0.0'))).toBe('ERR_PLUGIN_NOT_FOUND');
    const blobDirs = await readdir(blobs.root);
    expect(blobDirs).toHaveLength(1);

    const healthy = await restart(dataDir);
    const { integrity } = await healthy.client.publish(tarball, { name: 'halfway', version: '1.0.0' });
    expect(await healthy.blobs.has(integrity)).toBe(true);
    expect(await readdir(healthy.blobs.root)).toEqual(blobDirs);
    expect((await healthy.client.resolve('halfway', 'latest')).integrity).toBe(integrity);
  });

  it('ignores a temp file left by a crash mid-write, and refuses to serve a corrupt or missing blob', async () => {
    const dataDir = await tempDir();
    const { client, blobs } = await serve((inner) => inner, (inner) => inner, dataDir);
    const tarball = await packPlugin({ manifest: fixtureManifest('bitrot', '1.0.0') });
    const { integrity } = await client.publish(tarball, { name: 'bitrot', version: '1.0.0' });
    const hex = integrityToHex(integrity);
    await writeFile(join(blobs.root, hex.slice(0, 2), `.tmp-999-deadbeef`), 'half a tarball');
    expect(Buffer.from(await client.download('bitrot', '1.0.0')).equals(Buffer.from(tarball))).toBe(true);

    await writeFile(join(blobs.root, hex.slice(0, 2), hex), 'flipped bits');
    const response = await fetch(`${client.url}/api/v1/plugins/bitrot/-/1.0.0.tgz`);
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERR_TARBALL_INTEGRITY');

    await rm(join(blobs.root, hex.slice(0, 2), hex));
    expect(await codeOf(client.download('bitrot', '1.0.0'))).toBe('ERR_INTERNAL');
  });
});

describe('no partial state after a failed publish: mongodb+gridfs', () => {
  skipWithoutMongo();
  const running: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const item of running.splice(0).reverse()) await item.close();
  });

  /** A registry on one MongoDB database (GridFS blobs), optionally with a failing step. */
  async function serve(dataset: MongoDataset, failBlobs: boolean, failStore: boolean) {
    const client = new MongoClient(dataset.uri);
    await client.connect();
    running.push(client);
    const store = await MongoMetadataStore.fromDb(client.db());
    const blobs = new GridFsBlobStore(client.db());
    const app = createRegistryApp({
      store: failStore ? failing<MetadataStore>(store, 'publishVersion', 'crash') : store,
      blobs: failBlobs ? failing<BlobStore>(blobs, 'put', 'disk full') : blobs,
      adminToken,
      logger: silent,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    running.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { store, blobs, db: client.db(), client: new RegistryClient({ url, token: adminToken }) };
  }

  it('leaves no version, plugin or owner claim when the blob write fails, and a retry succeeds', async () => {
    const dataset = mongoDataset();
    datasets.push(dataset);
    const broken = await serve(dataset, true, false);
    const tarball = await packPlugin({ manifest: fixtureManifest('fragile', '1.0.0') });
    expect(await codeOf(broken.client.publish(tarball, { name: 'fragile', version: '1.0.0' }))).toBe('ERR_INTERNAL');
    expect(await codeOf(broken.client.getPlugin('fragile'))).toBe('ERR_PLUGIN_NOT_FOUND');
    expect(await broken.store.getMaintainers('fragile')).toEqual([]);
    const healthy = await serve(dataset, false, false);
    expect((await healthy.client.publish(tarball, { name: 'fragile', version: '1.0.0' })).version).toBe('1.0.0');
    expect(Buffer.from(await healthy.client.download('fragile', '1.0.0')).equals(Buffer.from(tarball))).toBe(true);
  });

  it('leaves only a harmless, reused blob when the metadata write fails', async () => {
    const dataset = mongoDataset();
    datasets.push(dataset);
    const broken = await serve(dataset, false, true);
    const tarball = await packPlugin({ manifest: fixtureManifest('halfway', '1.0.0') });
    expect(await codeOf(broken.client.publish(tarball, { name: 'halfway', version: '1.0.0' }))).toBe('ERR_INTERNAL');
    expect(await codeOf(broken.client.getPlugin('halfway'))).toBe('ERR_PLUGIN_NOT_FOUND');
    expect(await codeOf(broken.client.download('halfway', '1.0.0'))).toBe('ERR_PLUGIN_NOT_FOUND');
    const healthy = await serve(dataset, false, false);
    const { integrity } = await healthy.client.publish(tarball, { name: 'halfway', version: '1.0.0' });
    expect(await healthy.blobs.has(integrity)).toBe(true);
    // The retry reused the blob: one GridFS file, not two.
    expect(await healthy.db.collection('tarballs.files').countDocuments({ filename: integrity })).toBe(1);
    expect(Buffer.from(await healthy.client.download('halfway', '1.0.0')).equals(Buffer.from(tarball))).toBe(true);
  });
});

describe('private mode', () => {
  it('makes every API read need a token with the read scope', async () => {
    const registry = await startRegistry({ port: 0, dataDir: await tempDir(), adminToken, logger: silent, private: true });
    try {
      const admin = new RegistryClient({ url: registry.url, token: adminToken });
      await admin.publish(await packPlugin({ manifest: fixtureManifest('secret-plugin', '1.0.0') }), { name: 'secret-plugin', version: '1.0.0' });
      const reader = new RegistryClient({ url: registry.url, token: (await admin.createToken({ user: 'carol', scopes: ['read'] })).token });
      const publisher = new RegistryClient({ url: registry.url, token: (await admin.createToken({ user: 'pat', scopes: ['publish'] })).token });
      const anonymous = new RegistryClient({ url: registry.url });
      for (const [client, code] of [
        [anonymous, 'ERR_UNAUTHORIZED'],
        [publisher, 'ERR_FORBIDDEN'],
      ] as const) {
        expect(await codeOf(client.getPlugin('secret-plugin'))).toBe(code);
        expect(await codeOf(client.resolve('secret-plugin', 'latest'))).toBe(code);
        expect(await codeOf(client.download('secret-plugin', '1.0.0'))).toBe(code);
        expect(await codeOf(client.search({ q: 'secret' }))).toBe(code);
      }
      expect((await reader.resolve('secret-plugin', 'latest')).version).toBe('1.0.0');
      expect((await reader.download('secret-plugin', '1.0.0')).length).toBeGreaterThan(0);
      expect((await reader.search({ q: 'secret' })).total).toBe(1);
      expect((await fetch(`${registry.url}/healthz`)).status).toBe(200);
      // The marketplace pages show nothing of a private registry either.
      const page = await fetch(`${registry.url}/plugins/secret-plugin`);
      expect(page.status).toBe(403);
      expect(await page.text()).not.toContain('secret-plugin@1.0.0');
    } finally {
      await registry.close();
    }
  });
});

describe('structured logs', () => {
  it('logs each request and each publish as JSON through the given pino logger', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const registry = await startRegistry({ port: 0, dataDir: await tempDir(), adminToken, logger: pino({ level: 'info' }, sink) });
    try {
      const client = new RegistryClient({ url: registry.url, token: adminToken });
      await client.publish(await packPlugin({ manifest: fixtureManifest('logged', '1.0.0') }), { name: 'logged', version: '1.0.0' });
      await codeOf(client.getPlugin('nothing'));
    } finally {
      await registry.close();
    }
    expect(lines.find((line) => line.msg === 'published')).toMatchObject({ plugin: 'logged', version: '1.0.0', user: 'admin' });
    const completed = lines.filter((line) => line.msg === 'request completed');
    expect(completed.map((line) => (line.res as { statusCode: number }).statusCode)).toEqual([201, 404]);
    expect(JSON.stringify(lines)).not.toContain(adminToken);
  });
});
