#!/usr/bin/env node
// Starts the registry from environment settings: PORT, HOST, PLUGLINE_DATA_DIR, PLUGLINE_ADMIN_TOKEN, MONGODB_URI,
// PLUGLINE_REGISTRY_BLOBS, PLUGLINE_PUBLIC_URL, PLUGLINE_PRIVATE, LOG_LEVEL.
import { resolve } from 'node:path';
import pino from 'pino';
import { startRegistry } from './index.js';

const logger = pino({ name: 'plugline-registry', level: process.env.LOG_LEVEL ?? 'info' });
const port = process.env.PORT === undefined || process.env.PORT === '' ? 7400 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  logger.fatal({ port: process.env.PORT }, 'PORT must be an integer from 0 to 65535');
  process.exit(1);
}
const dataDir = resolve(process.env.PLUGLINE_DATA_DIR || './.plugline/registry');
const adminToken = process.env.PLUGLINE_ADMIN_TOKEN || undefined;
const mongoUri = process.env.MONGODB_URI || undefined;
if (!adminToken) logger.warn('PLUGLINE_ADMIN_TOKEN is not set: no admin token, so no new tokens can be created');

const registry = await startRegistry({
  port,
  host: process.env.HOST || '127.0.0.1',
  dataDir,
  logger,
  ...(adminToken ? { adminToken } : {}),
  ...(mongoUri ? { mongoUri } : {}),
  ...(process.env.PLUGLINE_REGISTRY_BLOBS ? { blobs: process.env.PLUGLINE_REGISTRY_BLOBS } : {}),
  ...(process.env.PLUGLINE_PUBLIC_URL ? { publicUrl: process.env.PLUGLINE_PUBLIC_URL } : {}),
  ...(process.env.PLUGLINE_PRIVATE === '1' || process.env.PLUGLINE_PRIVATE === 'true' ? { private: true } : {}),
});
logger.info({ url: registry.url, store: registry.store.engine, blobs: registry.blobs.engine, dataDir: mongoUri ? undefined : dataDir }, `registry listening on ${registry.url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    registry.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
