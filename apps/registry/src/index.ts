import type { AddressInfo } from 'node:net';
import type express from 'express';
import pino, { type Logger } from 'pino';
import { createRegistryApp } from './app.js';
import { openBlobStore } from './blob-setting.js';
import { type BlobStore, FsBlobStore } from './blobs.js';
import { DownloadCounter } from './downloads.js';
import { MongoMetadataStore } from './store/mongo.js';
import { SqliteMetadataStore } from './store/sqlite.js';
import type { MetadataStore } from './store/types.js';
import type { TarballLimits } from './tarball.js';

export * from './api-types.js';
export { createRegistryApp, type RegistryAppOptions } from './app.js';
export { type Principal, hashToken, ownerKeyOf } from './auth.js';
export { openBlobStore } from './blob-setting.js';
export { type BlobStore, FsBlobStore, GridFsBlobStore, integrityToHex } from './blobs.js';
export { parseS3BlobsUrl, S3BlobStore, type S3BlobStoreOptions } from './blobs-s3.js';
export { DownloadCounter, type DownloadCounterOptions } from './downloads.js';
export { isDistTagName, resolveSpec } from './resolve.js';
export { searchPlugins, type SearchOptions } from './search.js';
export { shouldBecomeLatest } from './store/latest.js';
export { MongoMetadataStore } from './store/mongo.js';
export { SqliteMetadataStore } from './store/sqlite.js';
export * from './store/types.js';
export { computeIntegrity, defaultTarballLimits, type InspectedTarball, inspectTarball, type TarballLimits } from './tarball.js';

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** TCP port; default 7400, `0` picks a free one. */
  port?: number;
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** Where the embedded store and filesystem blobs live (ignored for metadata when `mongoUri` is set). */
  dataDir: string;
  /** The admin token (full rights); from `PLUGLINE_ADMIN_TOKEN` in `main`. */
  adminToken?: string;
  /** When set, MongoDB (metadata) and GridFS (tarballs) replace the embedded store. */
  mongoUri?: string;
  /**
   * Where tarballs go: a `PLUGLINE_REGISTRY_BLOBS` setting (`fs`, `gridfs`,
   * `s3://bucket/prefix?endpoint=...`, see {@link openBlobStore}) or a blob store; default `gridfs` with
   * `mongoUri`, else `fs`. The registry closes it.
   */
  blobs?: string | BlobStore;
  logger?: Logger;
  limits?: Partial<TarballLimits>;
  /** Base of absolute tarball URLs (e.g. behind a proxy); default: the request's host. */
  publicUrl?: string;
  /** Private registry: API reads need a `read` token (`PLUGLINE_PRIVATE=1` in `main`). */
  private?: boolean;
  /**
   * How often tarball download counts are written to the store, in ms (default 1000). Counts are kept
   * in memory until then: a crash loses at most this long's counts; other replicas see them this late.
   */
  downloadFlushIntervalMs?: number;
}

/** A running registry. */
export interface RunningRegistry {
  /** `http://host:port`, no trailing slash. */
  url: string;
  port: number;
  app: express.Express;
  store: MetadataStore;
  blobs: BlobStore;
  /** Stops listening, drops open connections, writes pending download counts and closes the stores. */
  close(): Promise<void>;
}

/**
 * Starts the registry: opens the store (embedded SQLite + filesystem blobs under `dataDir`, or
 * MongoDB + GridFS with `mongoUri`) and listens.
 *
 * @example
 * ```ts
 * const registry = await startRegistry({ port: 0, dataDir: await mkdtemp(join(tmpdir(), 'reg-')), adminToken: 'secret' });
 * const client = new RegistryClient({ url: registry.url, token: 'secret' });
 * await registry.close();
 * ```
 */
export async function startRegistry(options: StartRegistryOptions): Promise<RunningRegistry> {
  const logger = options.logger ?? pino({ name: 'plugline-registry' });
  let store: MetadataStore;
  let blobs: BlobStore;
  const mongo = options.mongoUri ? await MongoMetadataStore.connect(options.mongoUri) : undefined;
  store = mongo ?? new SqliteMetadataStore(options.dataDir);
  try {
    blobs = typeof options.blobs === 'object' ? options.blobs : openBlobStore(options.blobs, { dataDir: options.dataDir, ...(mongo ? { mongoDb: mongo.db } : {}) });
  } catch (error) {
    await store.close();
    throw error;
  }
  if (blobs instanceof FsBlobStore) {
    // Temp files of publishes killed mid-write (SIGKILL, power loss) would otherwise stay forever.
    const swept = await blobs.sweepTemp().catch((error: unknown) => {
      logger.warn({ err: error }, 'could not sweep the temp files of interrupted publishes');
      return 0;
    });
    if (swept > 0) logger.info({ swept }, 'removed temp files left by interrupted publishes');
  }
  const downloads = new DownloadCounter(store, {
    logger,
    ...(options.downloadFlushIntervalMs === undefined ? {} : { flushIntervalMs: options.downloadFlushIntervalMs }),
  });
  const app = createRegistryApp({
    store,
    blobs,
    logger,
    downloads,
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(options.private ? { private: true } : {}),
  });
  const host = options.host ?? '127.0.0.1';
  const server = app.listen(options.port ?? 7400, host);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (error) {
    await downloads.close();
    await blobs.close();
    await store.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    app,
    store,
    blobs,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await downloads.close().catch((error: unknown) => logger.error({ err: error }, 'download counts lost at close'));
        await blobs.close();
        await store.close();
      })();
      return closing;
    },
  };
}
