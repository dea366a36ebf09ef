import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PluglineError } from '@plugline/sdk';
import { type Db, GridFSBucket } from 'mongodb';

/**
 * Content-addressed storage for tarballs, keyed by their SRI integrity. Writing the same bytes twice is
 * a no-op; a blob that no version points at (after a failed publish) is harmless and reused.
 */
export interface BlobStore {
  readonly engine: string;
  put(integrity: string, bytes: Uint8Array): Promise<void>;
  /** The bytes, or undefined if no blob has this integrity. */
  get(integrity: string): Promise<Uint8Array | undefined>;
  has(integrity: string): Promise<boolean>;
  close(): Promise<void>;
}

/** `sha512-<base64>` -> hex digest (base64 has `/`, which cannot be in a file name). */
export function integrityToHex(integrity: string): string {
  const match = /^sha512-([A-Za-z0-9+/]+={0,2})$/.exec(integrity);
  if (!match?.[1]) throw new PluglineError('ERR_BAD_REQUEST', `Not a sha512 integrity: ${integrity}`);
  return Buffer.from(match[1], 'base64').toString('hex');
}

/**
 * Tarballs as files under `<dataDir>/blobs/<aa>/<hex>`: written to a temp file, fsynced, then renamed
 * into place, so a crash never leaves a half-written blob under its final name.
 */
export class FsBlobStore implements BlobStore {
  readonly engine = 'fs';
  constructor(readonly root: string) {}

  private pathOf(integrity: string): { dir: string; file: string } {
    const hex = integrityToHex(integrity);
    const dir = join(this.root, hex.slice(0, 2));
    return { dir, file: join(dir, hex) };
  }

  async has(integrity: string): Promise<boolean> {
    try {
      await stat(this.pathOf(integrity).file);
      return true;
    } catch {
      return false;
    }
  }

  async put(integrity: string, bytes: Uint8Array): Promise<void> {
    const { dir, file } = this.pathOf(integrity);
    if (await this.has(integrity)) return;
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    // Persist the rename itself (the directory entry).
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  async get(integrity: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.pathOf(integrity).file);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async close(): Promise<void> {}
}

/** Tarballs in MongoDB GridFS (bucket `tarballs`, file name = integrity), used with the MongoDB store. */
export class GridFsBlobStore implements BlobStore {
  readonly engine = 'gridfs';
  private readonly bucket: GridFSBucket;

  constructor(db: Db) {
    this.bucket = new GridFSBucket(db, { bucketName: 'tarballs' });
  }

  async has(integrity: string): Promise<boolean> {
    return (await this.bucket.find({ filename: integrity }, { limit: 1 }).toArray()).length > 0;
  }

  async put(integrity: string, bytes: Uint8Array): Promise<void> {
    if (await this.has(integrity)) return;
    // GridFS writes the files document last, so an interrupted upload stays invisible.
    await new Promise<void>((resolve, reject) => {
      const upload = this.bucket.openUploadStream(integrity);
      upload.once('error', reject);
      upload.once('finish', () => resolve());
      upload.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
  }

  async get(integrity: string): Promise<Uint8Array | undefined> {
    if (!(await this.has(integrity))) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of this.bucket.openDownloadStreamByName(integrity)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async close(): Promise<void> {}
}
