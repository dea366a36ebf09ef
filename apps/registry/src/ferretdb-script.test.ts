// scripts/ferretdb.sh, which CI and developers use to get a MongoDB-protocol server (FerretDB): it says
// so when Go is missing (and the Mongo tests then skip with its reason), and it stops its server.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../../scripts/ferretdb.sh', import.meta.url));
const run = promisify(execFile);
const cache = process.env.PLUGLINE_FERRETDB_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'plugline-ferretdb');
const built = existsSync(join(cache, 'v1.24.2', 'ferretdb'));

/** The environment minus any server the tests already have, so the script starts its own. */
function envWithout(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.MONGODB_URI;
  delete env.PLUGLINE_MONGO_SKIP;
  return env;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('scripts/ferretdb.sh', () => {
  it('says that Go is missing, leaves MONGODB_URI unset and gives the reason the Mongo tests skip with', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'plugline-ferretdb-cache-'));
    try {
      const { stdout, stderr } = await run('bash', ['-c', `set -euo pipefail; . "${script}"; echo "uri=\${MONGODB_URI:-none}"; echo "skip=$PLUGLINE_MONGO_SKIP"`], {
        env: envWithout({ PLUGLINE_FERRETDB_GO: '/nonexistent/go', PLUGLINE_FERRETDB_CACHE: empty }),
      });
      expect(stderr).toContain('Go is missing');
      expect(stdout).toContain('uri=none');
      expect(stdout).toMatch(/skip=Go is missing .*cannot build FerretDB/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('runs a command with MONGODB_URI on a loopback port (SQLite backend, telemetry off) and stops FerretDB after it', async (context) => {
    if (!built) context.skip(`FerretDB is not built in ${cache} (Go missing?): run scripts/ferretdb.sh --build-only`);
    // The command's parent is the script's shell; FerretDB is its other child.
    const command = 'echo "uri=$MONGODB_URI backend=$PLUGLINE_FERRETDB_BACKEND"; ps -o args= --ppid "$PPID" | grep -c -- "^[^ ]*/[f]erretdb .*--listen-addr=127.0.0.1:.*--telemetry=disable .*--debug-addr=-" || true';
    const { stdout } = await run(script, ['bash', '-c', command], {
      env: envWithout({ PLUGLINE_FERRETDB_BACKEND: 'sqlite' }),
    });
    const match = /uri=mongodb:\/\/127\.0\.0\.1:(\d+)\/ backend=sqlite/.exec(stdout);
    expect(match).not.toBeNull();
    expect(Number(stdout.trim().split('\n').at(-1))).toBe(1);
    expect(await portOpen(Number(match![1]))).toBe(false);
  });
});
