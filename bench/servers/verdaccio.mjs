// Verdaccio in its own process, offline (no uplinks), storage and htpasswd under argv[2], logs at
// warn, web UI and audit middleware off; listens on 127.0.0.1 on a free port and reports its URL.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runServer } from 'verdaccio';

const dir = process.argv[2];
const configPath = path.join(dir, 'config.yaml');
await writeFile(
  configPath,
  `storage: ${path.join(dir, 'storage')}
auth:
  htpasswd:
    file: ${path.join(dir, 'htpasswd')}
    max_users: 1000
uplinks: {}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
  '**':
    access: $all
    publish: $authenticated
web:
  enable: false
server:
  keepAliveTimeout: 60
max_body_size: 10mb
log: { type: stdout, format: pretty, level: warn }
`,
);
const server = await runServer(configPath);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.send?.({ url: `http://127.0.0.1:${port}` });
});
process.once('SIGTERM', () => {
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
