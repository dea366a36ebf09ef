import { join } from 'node:path';
import { PluglineError } from '@plugline/sdk';
import type { Db } from 'mongodb';
import { type BlobStore, FsBlobStore, GridFsBlobStore } from './blobs.js';
import { S3BlobStore, parseS3BlobsUrl } from './blobs-s3.js';

/**
 * The blob store a `PLUGLINE_REGISTRY_BLOBS` setting names: `fs` (files under `<dataDir>/blobs`),
 * `gridfs` (the MongoDB database's `tarballs` bucket; needs `MONGODB_URI`) or
 * `s3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true`. Unset: `gridfs` with MongoDB,
 * else `fs`.
 *
 * @example
 * ```ts
 * const blobs = openBlobStore('s3://tarballs/registry?endpoint=http://127.0.0.1:9000&forcePathStyle=true', { dataDir });
 * ```
 */
export function openBlobStore(setting: string | undefined, context: { dataDir: string; mongoDb?: Db }): BlobStore {
  const value = setting?.trim() || (context.mongoDb ? 'gridfs' : 'fs');
  if (value === 'fs') return new FsBlobStore(join(context.dataDir, 'blobs'));
  if (value === 'gridfs') {
    if (!context.mongoDb) throw new PluglineError('ERR_BAD_REQUEST', 'PLUGLINE_REGISTRY_BLOBS=gridfs needs MONGODB_URI (GridFS lives in the MongoDB database)');
    return new GridFsBlobStore(context.mongoDb);
  }
  if (value.startsWith('s3://')) return new S3BlobStore(parseS3BlobsUrl(value));
  throw new PluglineError('ERR_BAD_REQUEST', `PLUGLINE_REGISTRY_BLOBS must be fs, gridfs or s3://bucket/prefix?endpoint=..., not ${value}`);
}
