// The Plugline registry in its own process for the load tests: embedded store under argv[2], or the
// MongoDB engine (GridFS blobs) when BENCH_MONGODB_URI is set; admin token from PLUGLINE_ADMIN_TOKEN,
// logs at warn (no per-request log lines, like Verdaccio below).
import { startRegistry } from '@plugline/registry';
import pino from 'pino';

const registry = await startRegistry({
  port: 0,
  host: '127.0.0.1',
  dataDir: process.argv[2],
  ...(process.env.BENCH_MONGODB_URI ? { mongoUri: process.env.BENCH_MONGODB_URI } : {}),
  adminToken: process.env.PLUGLINE_ADMIN_TOKEN,
  logger: pino({ name: 'bench-registry', level: 'warn' }),
});
process.send?.({ url: registry.url });
process.once('SIGTERM', () => {
  registry.close().then(() => process.exit(0), () => process.exit(1));
});
