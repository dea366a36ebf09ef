// The blob store conformance suite: every BlobStore (files, GridFS, S3) stores content-addressed bytes,
// ignores a second put, and never serves corrupt bytes (ERR_TARBALL_INTEGRITY). S3 runs against a
// real S3-compatible server (s3rver); GridFS on MONGODB_URI (FerretDB in CI), skipped with the reason without it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PluglineError } from '@plugline/sdk';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlobStore } from './blob-setting.js';
import { type BlobStore, FsBlobStore, GridFsBlobStore, integrityToHex } from './blobs.js';
import { S3BlobStore, parseS3BlobsUrl } from './blobs-s3.js';
import { mongoDataset, mongoSkipReason, type S3Server, skipWithoutMongo, startS3 } from './engines.test-helpers.js';

function blob(size = 2048): { bytes: Uint8Array; integrity: string } {
  const bytes = new Uint8Array(randomBytes(size));
  return { bytes, integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}` };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as PluglineError).code;
  }
}

interface Engine {
  store: BlobStore;
  /** Replaces the stored bytes of `integrity` behind the store's back (bit rot, a bad copy). */
  corrupt(integrity: string, bytes: Uint8Array): Promise<void>;
  dispose(): Promise<void>;
}

function blobStoreConformance(name: string, open: () => Promise<Engine>, requires?: () => void): void {
  describe(`BlobStore conformance: ${name}`, () => {
    requires?.();
    let engine: Engine | undefined;
    beforeAll(async () => {
      if (requires && mongoSkipReason) return;
      engine = await open();
    });
    afterAll(async () => {
      await engine?.store.close();
      await engine?.dispose();
    });

    it('stores bytes under their integrity; a second put of the same bytes changes nothing', async () => {
      const store = engine!.store;
      const { bytes, integrity } = blob(300_000); // past one GridFS chunk (255 KiB)
      expect(await store.has(integrity)).toBe(false);
      expect(await store.get(integrity)).toBeUndefined();
      expect(await store.getVerified(integrity)).toBeUndefined();
      await store.put(integrity, bytes);
      await store.put(integrity, bytes);
      expect(await store.has(integrity)).toBe(true);
      expect(Buffer.from((await store.get(integrity))!).equals(Buffer.from(bytes))).toBe(true);
      expect(Buffer.from((await store.getVerified(integrity))!).equals(Buffer.from(bytes))).toBe(true);
    });

    it('takes concurrent puts of one blob (two replicas publishing the same bytes)', async () => {
      const store = engine!.store;
      const { bytes, integrity } = blob();
      await Promise.all([store.put(integrity, bytes), store.put(integrity, bytes), store.put(integrity, bytes)]);
      expect(Buffer.from((await store.getVerified(integrity))!).equals(Buffer.from(bytes))).toBe(true);
    });

    it('refuses to serve bytes that no longer match their integrity (ERR_TARBALL_INTEGRITY)', async () => {
      const store = engine!.store;
      const { bytes, integrity } = blob();
      await store.put(integrity, bytes);
      expect(await store.getVerified(integrity)).toBeDefined();
      const flipped = Uint8Array.from(bytes);
      flipped[100] = (flipped[100] ?? 0) ^ 0xff;
      await engine!.corrupt(integrity, flipped);
      expect(await codeOf(store.getVerified(integrity))).toBe('ERR_TARBALL_INTEGRITY');
    });
  });
}

blobStoreConformance('fs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-blobs-'));
  const store = new FsBlobStore(dir);
  return {
    store,
    async corrupt(integrity, bytes) {
      const { writeFile } = await import('node:fs/promises');
      const hex = integrityToHex(integrity);
      await writeFile(join(dir, hex.slice(0, 2), hex), bytes);
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});

blobStoreConformance(
  'gridfs',
  async () => {
    const dataset = mongoDataset();
    const client = new MongoClient(dataset.uri);
    await client.connect();
    const db = client.db();
    return {
      store: new GridFsBlobStore(db),
      async corrupt(integrity, bytes) {
        const file = await db.collection('tarballs.files').findOne({ filename: integrity });
        const { Binary } = await import('mongodb');
        await db.collection('tarballs.chunks').updateOne({ files_id: file?._id, n: 0 }, { $set: { data: new Binary(Buffer.from(bytes.subarray(0, 255 * 1024))) } });
      },
      async dispose() {
        await client.close();
        await dataset.drop();
      },
    };
  },
  skipWithoutMongo,
);

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.close();
});

blobStoreConformance('s3 (s3rver)', async () => {
  const options = { ...parseS3BlobsUrl(s3.setting(`conformance-${randomBytes(4).toString('hex')}`)), credentials: s3.credentials };
  const store = new S3BlobStore(options);
  const raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials });
  return {
    store,
    async corrupt(integrity, bytes) {
      await raw.send(new PutObjectCommand({ Bucket: store.bucket, Key: store.keyOf(integrity), Body: bytes }));
    },
    async dispose() {
      raw.destroy();
    },
  };
});

describe('PLUGLINE_REGISTRY_BLOBS', () => {
  it('parses an s3:// setting: bucket, prefix, endpoint, region, path style', () => {
    expect(parseS3BlobsUrl('s3://tarballs/registry/prod?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&forcePathStyle=true')).toEqual({
      bucket: 'tarballs',
      prefix: '/registry/prod',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    const store = new S3BlobStore(parseS3BlobsUrl('s3://b/p/'));
    expect(store.keyOf(blob().integrity)).toMatch(/^p\/[0-9a-f]{128}$/);
  });

  it('refuses bad settings with a clear error: credentials in the URL, unknown parameters, other schemes, gridfs without MongoDB', () => {
    const dataDir = tmpdir();
    const message = (setting: string): string => {
      try {
        openBlobStore(setting, { dataDir });
      } catch (error) {
        expect(error).toBeInstanceOf(PluglineError);
        return `${(error as PluglineError).code}: ${(error as Error).message}`;
      }
      return 'accepted';
    };
    expect(message('s3://key:secret@bucket/p')).toMatch(/^ERR_BAD_REQUEST: .*takes no credentials/);
    expect(message('s3://bucket/p?endpoint=http://x&acl=public')).toMatch(/^ERR_BAD_REQUEST: .*unknown parameter acl/);
    expect(message('s3:///nobucket')).toMatch(/^ERR_BAD_REQUEST/);
    expect(message('ftp://bucket/p')).toMatch(/^ERR_BAD_REQUEST: .*must be fs, gridfs or s3/);
    expect(message('gridfs')).toMatch(/^ERR_BAD_REQUEST: .*needs MONGODB_URI/);
    expect(openBlobStore(undefined, { dataDir }).engine).toBe('fs');
    expect(openBlobStore('fs', { dataDir }).engine).toBe('fs');
    expect(openBlobStore('s3://bucket/p?endpoint=http://127.0.0.1:1', { dataDir }).engine).toBe('s3');
  });
});
