import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { PluglineError } from '@plugline/sdk';
import { type BlobStore, integrityToHex } from './blobs.js';

/** Options of {@link S3BlobStore}. */
export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix (no leading or trailing `/` needed); keys are `<prefix>/<sha512 hex>`. */
  prefix?: string;
  /** The S3-compatible endpoint (MinIO, Ceph, s3rver, ...); default AWS for the region. */
  endpoint?: string;
  /** Default `AWS_REGION`, else `us-east-1`. */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  /** Default: the AWS SDK's credential chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles, ...). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

function isNotFound(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    return error.$metadata.httpStatusCode === 404 || error.name === 'NotFound' || error.name === 'NoSuchKey';
  }
  return false;
}

/**
 * Tarballs in an S3 bucket (AWS SDK v3, any S3-compatible server), so registry replicas on several
 * machines share blobs without GridFS. Objects are named by the tarball's sha512 (content-addressed,
 * immutable): two replicas writing the same key at once write the same bytes. An object is only
 * visible once its PUT completed (S3 has no partial objects), and every read is hashed against the
 * integrity before it is served (`ERR_TARBALL_INTEGRITY`), as with GridFS.
 */
export class S3BlobStore implements BlobStore {
  readonly engine = 's3';
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.client = new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.forcePathStyle ? { forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Checksums only where S3 requires them: S3-compatible servers differ in the newer ones, and
      // the bytes are checked against their sha512 on every read anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** The object key of a blob. */
  keyOf(integrity: string): string {
    const hex = integrityToHex(integrity);
    return this.prefix ? `${this.prefix}/${hex}` : hex;
  }

  async has(integrity: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(integrity) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async put(integrity: string, bytes: Uint8Array): Promise<void> {
    if (await this.has(integrity)) return;
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.keyOf(integrity),
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: 'application/gzip',
        // S3 checks the body against this and refuses a PUT damaged on the way.
        ContentMD5: createHash('md5').update(bytes).digest('base64'),
      }),
    );
  }

  async get(integrity: string): Promise<Uint8Array | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(integrity) }));
      if (!answer.Body) return undefined;
      return await answer.Body.transformToByteArray();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Every read is hashed: nothing cheap proves an object unchanged since its last check. */
  async getVerified(integrity: string): Promise<Uint8Array | undefined> {
    const bytes = await this.get(integrity);
    if (bytes && `sha512-${createHash('sha512').update(bytes).digest('base64')}` !== integrity) {
      throw new PluglineError('ERR_TARBALL_INTEGRITY', `The stored blob ${integrity.slice(0, 19)}... does not match its integrity (corrupt)`);
    }
    return bytes;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/**
 * The options of an `s3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true` setting
 * (`PLUGLINE_REGISTRY_BLOBS`). Credentials come from the AWS SDK's chain (environment, profiles), never
 * from the URL, so the setting can be logged.
 *
 * @example
 * ```ts
 * new S3BlobStore(parseS3BlobsUrl('s3://tarballs/registry?endpoint=http://127.0.0.1:9000&forcePathStyle=true'));
 * ```
 */
export function parseS3BlobsUrl(setting: string): S3BlobStoreOptions {
  let url: URL;
  try {
    url = new URL(setting);
  } catch {
    throw new PluglineError('ERR_BAD_REQUEST', `PLUGLINE_REGISTRY_BLOBS is not a URL: ${setting}`);
  }
  if (url.protocol !== 's3:' || !url.hostname) {
    throw new PluglineError('ERR_BAD_REQUEST', 'PLUGLINE_REGISTRY_BLOBS must be fs, gridfs or s3://bucket/prefix?endpoint=...');
  }
  if (url.username || url.password) {
    throw new PluglineError('ERR_BAD_REQUEST', 'PLUGLINE_REGISTRY_BLOBS takes no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  const known = new Set(['endpoint', 'region', 'forcePathStyle']);
  for (const key of url.searchParams.keys()) {
    if (!known.has(key)) throw new PluglineError('ERR_BAD_REQUEST', `PLUGLINE_REGISTRY_BLOBS: unknown parameter ${key} (known: ${[...known].join(', ')})`);
  }
  const options: S3BlobStoreOptions = { bucket: decodeURIComponent(url.hostname), prefix: decodeURIComponent(url.pathname) };
  const endpoint = url.searchParams.get('endpoint');
  if (endpoint) options.endpoint = endpoint;
  const region = url.searchParams.get('region');
  if (region) options.region = region;
  const pathStyle = url.searchParams.get('forcePathStyle');
  if (pathStyle !== null) options.forcePathStyle = pathStyle === '' || pathStyle === 'true' || pathStyle === '1';
  return options;
}
