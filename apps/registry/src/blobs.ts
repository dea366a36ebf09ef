import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
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
  /**
   * The bytes, checked against `integrity` (`ERR_TARBALL_INTEGRITY` when they differ), or undefined if
   * there is no such blob. What the registry serves: corrupt bytes are never returned. An engine may
   * skip re-hashing bytes it has verified before and can prove unchanged since.
   */
  getVerified(integrity: string): Promise<Uint8Array | undefined>;
  /** Throws `ERR_NOT_READY` when the engine cannot store a blob now (e.g. its folder is not writable); `GET /readyz`. */
  ready?(): Promise<void>;
  close(): Promise<void>;
}

/** Out of space (or quota) while writing: answered 507 `ERR_STORAGE_FULL`, not 500. */
export function isStorageFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** `sha512-<base64>` of the bytes. */
function sha512Integrity(bytes: Uint8Array): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

function checkIntegrity(integrity: string, bytes: Uint8Array): void {
  if (sha512Integrity(bytes) !== integrity) {
    throw new PluglineError('ERR_TARBALL_INTEGRITY', `The stored blob ${integrity.slice(0, 19)}... does not match its integrity (corrupt)`);
  }
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
  /**
   * integrity -> `inode:size:ctime:mtime` of the file when its bytes last hashed right. Any write,
   * truncation, utimes or rename-over through the file system changes the ctime (which user space
   * cannot set back) or the inode, so a matching fingerprint proves the file is unchanged.
   */
  private readonly verified = new Map<string, string>();
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
      if (isStorageFull(error)) throw new PluglineError('ERR_STORAGE_FULL', 'No space left in the blob store: the tarball was not stored', { cause: error });
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

  /**
   * Reads the blob and hashes it only when its file's fingerprint (taken AFTER the read, so a write
   * racing the read is seen) differs from the one recorded at its last successful check.
   */
  async getVerified(integrity: string): Promise<Uint8Array | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.pathOf(integrity).file, 'r');
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const bytes = await handle.readFile();
      const info = await handle.stat({ bigint: true });
      const fingerprint = `${info.ino}:${info.size}:${info.ctimeNs}:${info.mtimeNs}`;
      if (this.verified.get(integrity) !== fingerprint) {
        this.verified.delete(integrity);
        checkIntegrity(integrity, bytes);
        // Bounded: past 100,000 blobs start over (costs one re-hash each).
        if (this.verified.size >= 100_000) this.verified.clear();
        this.verified.set(integrity, fingerprint);
      }
      return bytes;
    } finally {
      await handle.close();
    }
  }

  /**
   * Deletes the temp files (`<aa>/.tmp-<pid>-<random>`) a publish killed mid-write left behind: those of
   * processes that no longer run on this machine, once older than `minAgeMs` (default 10 s), and any
   * older than `staleMs` (default 1 h; a writer on another machine sharing the folder). A live
   * writer's file is never touched. Returns how many were removed. Run at start.
   */
  async sweepTemp(options: { minAgeMs?: number; staleMs?: number } = {}): Promise<number> {
    const minAgeMs = options.minAgeMs ?? 10_000;
    const staleMs = options.staleMs ?? 3_600_000;
    let removed = 0;
    let shards: string[];
    try {
      shards = await readdir(this.root);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return 0;
      throw error;
    }
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      let names: string[];
      try {
        names = await readdir(join(this.root, shard));
      } catch {
        continue; // not a folder, or gone
      }
      for (const name of names) {
        const match = /^\.tmp-(\d+)-[0-9a-f]+$/.exec(name);
        if (!match) continue;
        const file = join(this.root, shard, name);
        const info = await stat(file).catch(() => undefined);
        if (!info) continue;
        const age = Date.now() - info.mtimeMs;
        const pid = Number(match[1]);
        const writerGone = pid !== process.pid && !isAlive(pid);
        if ((writerGone && age >= minAgeMs) || age >= staleMs) {
          await rm(file, { force: true });
          removed += 1;
        }
      }
    }
    return removed;
  }

  /** Writes, fsyncs and deletes a probe file in the blob folder: `ERR_NOT_READY` (with the reason) when it cannot. */
  async ready(): Promise<void> {
    const probe = join(this.root, `.ready-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(this.root, { recursive: true });
      const handle = await open(probe, 'wx');
      try {
        await handle.writeFile('ok');
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new PluglineError('ERR_NOT_READY', `The data folder is not writable (${code ?? (error as Error).message})`, { cause: error });
    } finally {
      await rm(probe, { force: true }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {}
}

/** Whether a process with this PID exists here (EPERM: it exists, someone else's). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
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

  /** GridFS offers no cheap proof that a file is unchanged, so every read is hashed. */
  async getVerified(integrity: string): Promise<Uint8Array | undefined> {
    const bytes = await this.get(integrity);
    if (bytes) checkIntegrity(integrity, bytes);
    return bytes;
  }

  async close(): Promise<void> {}
}
