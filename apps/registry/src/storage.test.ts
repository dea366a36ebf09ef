// Storage faults: temp files of killed publishes are swept at start; a full disk answers 507
// ERR_STORAGE_FULL and /readyz 503 while /healthz stays ok. The full disk is real: the registry runs in a
// child process inside its own mount namespace (`unshare -rm`, no root needed where user namespaces are
// allowed) on a tiny tmpfs.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from './blobs.js';
import { startRegistry } from './index.js';
import { fixtureManifest, packPlugin } from './testing.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundleDir = join(packageDir, 'node_modules', '.cache', `plugline-storage-${randomBytes(4).toString('hex')}`);
const adminToken = 'storage-admin';
const silent = pino({ level: 'silent' });
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await mkdir(bundleDir, { recursive: true });
  await build({
    entryPoints: [join(packageDir, 'src', 'main.ts')],
    outfile: join(bundleDir, 'main.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await rm(bundleDir, { recursive: true, force: true });
});

/** A PID that belonged to a process that has exited. */
function deadPid(): number {
  const ran = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(ran.stdout);
}

describe('temp files of interrupted publishes', () => {
  it('are swept at start: a dead writer’s, and any stale one; a live writer’s fresh file stays', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'plugline-sweep-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const shard = join(dataDir, 'blobs', 'ab');
    await mkdir(shard, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    const dead = join(shard, `.tmp-${deadPid()}-0a1b2c3d4e5f`);
    const live = join(shard, `.tmp-${process.pid}-0a1b2c3d4e60`);
    const stale = join(shard, `.tmp-${process.pid}-0a1b2c3d4e61`);
    const blob = join(shard, 'ab'.padEnd(128, '0'));
    for (const file of [dead, live, stale, blob]) await writeFile(file, 'half a tarball');
    await utimes(dead, old, old);
    await utimes(stale, new Date(Date.now() - 2 * 3_600_000), new Date(Date.now() - 2 * 3_600_000));

    const registry = await startRegistry({ port: 0, dataDir, logger: silent });
    await registry.close();
    expect([existsSync(dead), existsSync(live), existsSync(stale), existsSync(blob)]).toEqual([false, true, false, true]);
    // A just-written temp file of a dead writer is kept until it is older than minAgeMs (a writer on another machine may share the PID).
    const fresh = join(shard, `.tmp-${deadPid()}-0a1b2c3d4e62`);
    await writeFile(fresh, 'x');
    expect(await new FsBlobStore(join(dataDir, 'blobs')).sweepTemp()).toBe(0);
    expect(await new FsBlobStore(join(dataDir, 'blobs')).sweepTemp({ minAgeMs: 0 })).toBe(1);
  });
});

describe('a full disk', () => {
  it('answers 507 ERR_STORAGE_FULL (not 500), /readyz 503 ERR_NOT_READY, /healthz 200, and keeps serving what it has', async () => {
    const probe = spawnSync('unshare', ['-rm', 'true']);
    if (probe.status !== 0) throw new Error(`this test needs unshare -rm (user + mount namespaces): ${probe.stderr?.toString() ?? probe.error}`);
    const dataDir = await mkdtemp(join(tmpdir(), 'plugline-full-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    // 1.5 MiB of tmpfs, mounted over the data folder in the child's own mount namespace only.
    const script = `mount -t tmpfs -o size=1536k tmpfs "$PLUGLINE_DATA_DIR" && exec "${process.execPath}" "${join(bundleDir, 'main.mjs')}"`;
    const child: ChildProcess = spawn('unshare', ['-rm', 'sh', '-c', script], {
      env: { ...process.env, PORT: '0', PLUGLINE_DATA_DIR: dataDir, PLUGLINE_ADMIN_TOKEN: adminToken, MONGODB_URI: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
        if (match?.[1]) resolve(match[1]);
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
      });
      child.once('exit', (code) => reject(new Error(`registry exited early (${code}): ${output}`)));
    });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    const publish = async (version: string) => {
      // Random bytes do not compress: each tarball takes ~300 KB of the 1.5 MiB.
      const tarball = await packPlugin({ manifest: fixtureManifest('filler', version), files: { 'data.bin': randomBytes(300_000) } });
      return fetch(`${url}/api/v1/plugins/filler/${version}`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/gzip' }, body: tarball });
    };
    const answers: { status: number; code?: string }[] = [];
    for (let index = 0; index < 12; index += 1) {
      const response = await publish(`1.0.${index}`);
      const body = (await response.json()) as { error?: { code: string } };
      answers.push({ status: response.status, ...(body.error ? { code: body.error.code } : {}) });
      if (response.status !== 201 && response.status !== 200) break;
    }
    const last = answers.at(-1)!;
    expect(answers.length).toBeGreaterThan(1); // the first publishes fit
    expect(last).toEqual({ status: 507, code: 'ERR_STORAGE_FULL' });
    expect(answers.slice(0, -1).every((answer) => answer.status < 300)).toBe(true);

    // Something else fills the rest of the disk (through the child's mount namespace): not ready.
    const inNamespace = join(`/proc/${child.pid}/root`, dataDir);
    const filler = join(inNamespace, 'filler.bin');
    await writeFile(filler, randomBytes(2 * 1024 * 1024)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOSPC') throw error;
    });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'ERR_NOT_READY', message: expect.stringContaining('not writable') });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // What was published before the disk filled is still served, byte for byte.
    const first = await fetch(`${url}/api/v1/plugins/filler/versions/1.0.0`);
    expect(first.status).toBe(200);
    const tarball = await fetch(`${url}/api/v1/plugins/filler/-/1.0.0.tgz`);
    expect(tarball.status).toBe(200);
    // Space comes back: ready again, and publishing works.
    await rm(filler);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  }, 60_000);
});
