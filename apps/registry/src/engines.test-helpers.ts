// Test helpers (not shipped, see tsconfig.build.json): the storage engines the registry's tests run on.
// MongoDB-protocol storage comes from MONGODB_URI (scripts/ferretdb.sh starts FerretDB and sets it; CI
// does); without it, the Mongo tests skip with the reason the script gave (PLUGLINE_MONGO_SKIP).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import S3rver from 's3rver';
import { beforeEach } from 'vitest';

export const mongoUri = process.env.MONGODB_URI || undefined;

/** Why the Mongo tests cannot run here, or undefined when they can. */
export const mongoSkipReason = mongoUri
  ? undefined
  : process.env.PLUGLINE_MONGO_SKIP ||
    'MONGODB_URI is not set: run the tests under scripts/ferretdb.sh (as .ci/run does) or point MONGODB_URI at a MongoDB server';

/** Call inside a `describe`: skips each of its tests with {@link mongoSkipReason} when there is no server. */
export function skipWithoutMongo(): void {
  const reason = mongoSkipReason;
  if (reason) beforeEach((context) => context.skip(reason));
}

/** `uri` naming `database` instead of its own database path (options kept). */
export function withDatabase(uri: string, database: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!match) throw new Error(`Not a MongoDB connection string: ${uri}`);
  return `${match[1]}/${database}${match[2] ?? ''}`;
}

/** A database of its own (random name) on MONGODB_URI; `drop()` deletes it. */
export interface MongoDataset {
  name: string;
  uri: string;
  drop(): Promise<void>;
}

export function mongoDataset(): MongoDataset {
  if (!mongoUri) throw new Error(mongoSkipReason);
  const name = `plugline_test_${randomBytes(6).toString('hex')}`;
  return {
    name,
    uri: withDatabase(mongoUri, name),
    async drop() {
      const client = new MongoClient(mongoUri);
      try {
        await client.connect();
        await client.db(name).dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
}

/** A real S3-compatible server for the tests: s3rver on a free loopback port, account S3RVER/S3RVER. */
export interface S3Server {
  endpoint: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** `PLUGLINE_REGISTRY_BLOBS` for `prefix` in the bucket. */
  setting(prefix: string): string;
  /** Environment of a child registry process using it (credentials through the AWS SDK's chain). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3(bucket = 'tarballs'): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'plugline-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    setting: (prefix) => `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(endpoint)}&forcePathStyle=true&region=us-east-1`,
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' },
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
