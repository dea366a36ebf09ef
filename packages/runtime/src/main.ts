#!/usr/bin/env node
// `plugline-runtime`: the runtime service, configured from the environment.
import { resolve } from 'node:path';
import { pino } from 'pino';
import { postHogOptionsFromEnv } from './posthog-routes.js';
import { installProcessGuard } from './process-guard.js';
import { apiKeysFromEnv, resolveAdminToken } from './auth.js';
import { startRuntime } from './server.js';
import { leaseMsFromEnv, sourceFromEnv } from './source.js';

const logger = pino({ name: 'plugline-runtime', level: process.env.LOG_LEVEL ?? 'info' });
// Anything a host-side resource lets escape is logged and counted, not a silent death (see process-guard.ts).
const guard = installProcessGuard(logger, { exitOnUncaught: process.env.PLUGLINE_EXIT_ON_UNCAUGHT === '1' });
const dir = resolve(process.env.PLUGLINE_RUNTIME_DIR ?? './.plugline/runtime');
const port = Number(process.env.PLUGLINE_RUNTIME_PORT ?? process.env.PORT ?? 7401);
const registryUrl = process.env.PLUGLINE_REGISTRY_URL;
const dataDir = process.env.PLUGLINE_DATA_DIR ? resolve(process.env.PLUGLINE_DATA_DIR) : undefined;
const redisUrl = process.env.REDIS_URL;
const managementPort = process.env.PLUGLINE_RUNTIME_MANAGEMENT_PORT ? Number(process.env.PLUGLINE_RUNTIME_MANAGEMENT_PORT) : undefined;
const apiKeys = apiKeysFromEnv(process.env);

try {
  // `--source nats [--worker|--capture] [--nats-url <url>]` or PLUGLINE_SOURCE=nats + PLUGLINE_NATS_URL.
  const source = sourceFromEnv(process.env, process.argv.slice(2));
  const leaseMs = leaseMsFromEnv(process.env);
  // PLUGLINE_RUNTIME_ADMIN_TOKEN, else <dir>/admin-token (generated, mode 0600); the log says where, never what.
  const admin = await resolveAdminToken(dir, { env: process.env });
  const running = await startRuntime({
    dir,
    port,
    host: process.env.HOST ?? '127.0.0.1',
    logger,
    source,
    posthog: postHogOptionsFromEnv(process.env),
    ...(registryUrl ? { registryUrl } : {}),
    ...(dataDir ? { dataDir } : {}),
    ...(redisUrl ? { redisUrl } : {}),
    ...(leaseMs ? { leaseMs } : {}),
    adminToken: admin.token,
    ...(apiKeys ? { apiKeys } : {}),
    ...(managementPort !== undefined ? { managementPort, managementHost: process.env.PLUGLINE_RUNTIME_MANAGEMENT_HOST ?? '127.0.0.1' } : {}),
  });
  guard.attach(running.runtime.metrics.uncaughtErrors);
  logger.info(
    { adminToken: admin.file ?? 'PLUGLINE_RUNTIME_ADMIN_TOKEN', managementUrl: running.managementUrl },
    admin.source === 'generated' ? `generated an admin token in ${admin.file} (management routes need Authorization: Bearer <token>)` : 'management routes need Authorization: Bearer <admin token>',
  );
  const stop = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await running.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  logger.fatal({ err: error }, 'the runtime could not start');
  process.exit(1);
}
