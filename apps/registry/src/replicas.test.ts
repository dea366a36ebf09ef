// Registry replicas (issues 10 and 20): two registry PROCESSES on one dataset serve the same data at
// once; what a process keeps in memory is revision-checked or batched (read-cache.test.ts). Run on each
// engine: the embedded store (SQLite WAL + the blob folder, one data directory), and MongoDB-protocol
// storage (MONGODB_URI: FerretDB in CI) with GridFS or with an S3 bucket (s3rver) as the shared blobs,
// each process then having its OWN data directory, so nothing is shared through the file system.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore, parseS3BlobsUrl } from './blobs-s3.js';
import { RegistryClient } from './client.js';
import { type MongoDataset, mongoDataset, mongoSkipReason, type S3Server, skipWithoutMongo, startS3 } from './engines.test-helpers.js';
import { type RunningRegistry, type StartRegistryOptions, startRegistry } from './index.js';
import { computeIntegrity } from './tarball.js';
import { fixtureManifest, packPlugin } from './testing.js';

const mainScript = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const adminToken = 'replica-admin-token';

/** How both replicas reach the dataset: the child's environment and this process's startRegistry options. */
interface Dataset {
  childEnv: Record<string, string>;
  options: Omit<StartRegistryOptions, 'port' | 'adminToken' | 'logger'>;
  /** What /healthz must say. */
  engines: { store: string; blobs: string };
  dispose(): Promise<void>;
}

type Engine = 'embedded' | 'mongodb+gridfs' | 'mongodb+s3';

async function openDataset(engine: Engine): Promise<Dataset> {
  const dirs = [await mkdtemp(join(tmpdir(), 'plugline-replicas-'))];
  const cleanup: (() => Promise<void>)[] = [async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }];
  const dispose = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  if (engine === 'embedded') {
    return { childEnv: { PLUGLINE_DATA_DIR: dirs[0]!, MONGODB_URI: '' }, options: { dataDir: dirs[0]! }, engines: { store: 'sqlite', blobs: 'fs' }, dispose };
  }
  dirs.push(await mkdtemp(join(tmpdir(), 'plugline-replicas-')));
  const mongo: MongoDataset = mongoDataset();
  cleanup.push(() => mongo.drop());
  if (engine === 'mongodb+gridfs') {
    return {
      childEnv: { PLUGLINE_DATA_DIR: dirs[0]!, MONGODB_URI: mongo.uri },
      options: { dataDir: dirs[1]!, mongoUri: mongo.uri },
      engines: { store: 'mongodb', blobs: 'gridfs' },
      dispose,
    };
  }
  const s3: S3Server = await startS3();
  cleanup.push(() => s3.close());
  const setting = s3.setting(`replicas/${mongo.name}`);
  return {
    childEnv: { PLUGLINE_DATA_DIR: dirs[0]!, MONGODB_URI: mongo.uri, PLUGLINE_REGISTRY_BLOBS: setting, ...s3.env },
    options: { dataDir: dirs[1]!, mongoUri: mongo.uri, blobs: new S3BlobStore({ ...parseS3BlobsUrl(setting), credentials: s3.credentials }) },
    engines: { store: 'mongodb', blobs: 's3' },
    dispose,
  };
}

describe.each<Engine>(['embedded', 'mongodb+gridfs', 'mongodb+s3'])('two registry processes on one dataset: %s', (engine) => {
  let dataset: Dataset | undefined;
  let child: ChildProcess | undefined;
  let inProcess: RunningRegistry | undefined;
  let a: RegistryClient; // the child process
  let b: RegistryClient; // this process
  if (engine !== 'embedded') skipWithoutMongo();

  beforeAll(async () => {
    if (engine !== 'embedded' && mongoSkipReason) return;
    if (!existsSync(mainScript)) throw new Error('apps/registry/dist/main.js is missing: build @plugline/registry first');
    dataset = await openDataset(engine);
    const spawned = spawn(process.execPath, [mainScript], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PLUGLINE_ADMIN_TOKEN: adminToken, LOG_LEVEL: 'info', PLUGLINE_REGISTRY_BLOBS: '', ...dataset.childEnv },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = spawned;
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      spawned.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /registry listening on (http:\/\/[^"\s]+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      spawned.once('exit', (code) => reject(new Error(`the registry process exited with ${code}: ${output}`)));
    });
    inProcess = await startRegistry({ port: 0, adminToken, logger: pino({ level: 'silent' }), ...dataset.options });
    a = new RegistryClient({ url, token: adminToken });
    b = new RegistryClient({ url: inProcess.url, token: adminToken });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await inProcess?.close();
    await dataset?.dispose();
  });

  it('runs on the engines it names (both replicas)', async () => {
    for (const client of [a, b]) {
      const health = (await (await fetch(`${client.url}/healthz`)).json()) as { store: string; blobs: string };
      expect(health).toMatchObject(dataset!.engines);
    }
  });

  it('a publish on one replica is resolvable, downloadable and searchable on the other at once; dist-tags and downloads are shared', async () => {
    const tarball = await packPlugin({ manifest: fixtureManifest('replica-geo', '1.0.0', { keywords: ['replica'] }) });
    expect(await a.publish(tarball, { name: 'replica-geo', version: '1.0.0' })).toMatchObject({ integrity: computeIntegrity(tarball) });
    const doc = await b.resolve('replica-geo', '^1');
    expect(doc).toMatchObject({ name: 'replica-geo', version: '1.0.0', integrity: computeIntegrity(tarball) });
    expect(Buffer.from(await b.download('replica-geo', '1.0.0', { integrity: doc.integrity })).equals(Buffer.from(tarball))).toBe(true);
    expect((await b.search({ q: 'replica-geo' })).results.map((result) => result.name)).toEqual(['replica-geo']);

    await a.publish(await packPlugin({ manifest: fixtureManifest('replica-geo', '2.0.0-beta.1') }), { name: 'replica-geo', version: '2.0.0-beta.1' });
    expect(await b.setDistTag('replica-geo', 'beta', '2.0.0-beta.1')).toMatchObject({ beta: '2.0.0-beta.1', latest: '1.0.0' });
    expect(await a.resolve('replica-geo', 'beta')).toMatchObject({ version: '2.0.0-beta.1' });
    await a.deprecate('replica-geo', '1.0.0', 'use 2');
    expect(await b.resolve('replica-geo', '1.0.0')).toMatchObject({ deprecated: 'use 2' });

    await a.download('replica-geo', '1.0.0');
    expect((await a.getPlugin('replica-geo')).downloads.total).toBe(2); // one through each replica
  });

  it('a token minted on one replica works on the other, and its revocation too', async () => {
    const minted = await a.createToken({ scopes: ['publish'], user: 'carol', name: 'replica test' });
    const carolOnB = new RegistryClient({ url: b.url, token: minted.token });
    expect(await carolOnB.whoami()).toMatchObject({ user: 'carol', admin: false });
    await carolOnB.publish(await packPlugin({ manifest: fixtureManifest('carol-plugin', '1.0.0') }), { name: 'carol-plugin', version: '1.0.0' });
    expect(await a.getMaintainers('carol-plugin')).toMatchObject({ maintainers: ['carol'] });
    await b.revokeToken(minted.id);
    const carolOnA = new RegistryClient({ url: a.url, token: minted.token });
    await expect(carolOnA.whoami()).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED' });
  });

  it('concurrent publishes of one version through both replicas: exactly one wins, the other gets ERR_VERSION_EXISTS', async () => {
    for (let round = 0; round < 5; round++) {
      const version = `1.0.${round}`;
      // Different bytes per replica, so the winner is visible in the stored integrity.
      const tarballs = [0, 1].map((side) => packPlugin({ manifest: fixtureManifest('replica-race', version, { description: `side ${side}` }) }));
      const [fromA, fromB] = await Promise.all(tarballs);
      const results = await Promise.allSettled([a.publish(fromA!, { name: 'replica-race', version }), b.publish(fromB!, { name: 'replica-race', version })]);
      const won = results.filter((result) => result.status === 'fulfilled');
      const lost = results.filter((result) => result.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((result) => (result as PromiseRejectedResult).reason)).toMatchObject([{ code: 'ERR_VERSION_EXISTS' }]);
      const winner = results[0]!.status === 'fulfilled' ? fromA! : fromB!;
      for (const client of [a, b]) {
        const doc = await client.resolve('replica-race', version);
        expect(doc.integrity).toBe(computeIntegrity(winner));
        expect(Buffer.from(await client.download('replica-race', version)).equals(Buffer.from(winner))).toBe(true);
      }
    }
    expect(await b.getDistTags('replica-race')).toEqual({ latest: '1.0.4' });
  });
});
