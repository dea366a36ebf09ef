import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.js';
import { startRegistry } from './index.js';
import { computeIntegrity } from './tarball.js';
import { fixtureManifest, packPlugin } from './testing.js';

// A real crash: the registry runs in a child process (src/main.ts bundled by esbuild, dependencies left
// external so they resolve from this package's node_modules) and is SIGKILLed in the middle of publishes.
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundleDir = join(packageDir, 'node_modules', '.cache', `plugline-crash-${randomBytes(4).toString('hex')}`);
const adminToken = 'crash-admin';
let dataDir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'plugline-crash-'));
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
  child?.kill('SIGKILL');
  await rm(bundleDir, { recursive: true, force: true });
  await rm(dataDir, { recursive: true, force: true });
});

/** Starts `main` in a child process and waits for the URL it logs. */
function startChild(): Promise<{ process: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const spawned = spawn(process.execPath, [join(bundleDir, 'main.mjs')], {
      env: { ...process.env, PORT: '0', PLUGLINE_DATA_DIR: dataDir, PLUGLINE_ADMIN_TOKEN: adminToken, MONGODB_URI: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    spawned.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match?.[1]) resolve({ process: spawned, url: match[1] });
    });
    spawned.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    spawned.once('exit', (code) => reject(new Error(`registry exited early (${code}): ${output}`)));
  });
}

describe('crash safety (SIGKILL mid-publish)', () => {
  it('keeps every acknowledged publish and no half-published version after a kill -9', async () => {
    const started = await startChild();
    child = started.process;
    const client = new RegistryClient({ url: started.url, token: adminToken });
    const versions = Array.from({ length: 40 }, (_, index) => `1.0.${index}`);
    const tarballs = new Map<string, Uint8Array>();
    for (const version of versions) {
      tarballs.set(version, await packPlugin({ manifest: fixtureManifest('crashy', version), files: { 'data.txt': randomBytes(2048).toString('hex') } }));
    }
    const acknowledged = new Set<string>();
    let killed = false;
    const exited = new Promise<void>((resolve) => child?.once('exit', () => resolve()));
    // Four publishers in parallel; the kill lands while several requests are in flight.
    const queue = [...versions];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let version = queue.shift(); version !== undefined; version = queue.shift()) {
          const tarball = tarballs.get(version);
          if (!tarball) continue;
          try {
            await client.publish(tarball, { name: 'crashy', version });
            acknowledged.add(version);
            if (acknowledged.size === 12 && !killed) {
              killed = true;
              child?.kill('SIGKILL');
            }
          } catch {
            // Requests cut off by the kill fail; what matters is what the store says afterwards.
          }
        }
      }),
    );
    expect(killed).toBe(true);
    await exited;
    child = undefined;

    const registry = await startRegistry({ port: 0, dataDir, adminToken, logger: pino({ level: 'silent' }) });
    try {
      const after = new RegistryClient({ url: registry.url, token: adminToken });
      const plugin = await after.getPlugin('crashy');
      const present = Object.keys(plugin.versions);
      for (const version of acknowledged) expect(present).toContain(version);
      expect(present.length).toBeLessThan(versions.length);
      // Every version that exists is whole: its tarball downloads and matches the recorded integrity.
      for (const version of present) {
        const tarball = tarballs.get(version);
        if (!tarball) throw new Error(`unexpected version ${version}`);
        expect(plugin.versions[version]?.integrity).toBe(computeIntegrity(tarball));
        expect(Buffer.from(await after.download('crashy', version)).equals(Buffer.from(tarball))).toBe(true);
      }
      const highest = present.sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2])).at(-1);
      expect(plugin.distTags.latest).toBe(highest);
      // The versions lost in the crash publish cleanly now; the surviving ones stay immutable.
      const missing = versions.filter((version) => !present.includes(version));
      for (const version of missing) {
        const tarball = tarballs.get(version);
        if (tarball) expect((await after.publish(tarball, { name: 'crashy', version })).version).toBe(version);
      }
      const survivor = present[0] ?? '';
      await expect(after.publish(tarballs.get(survivor) ?? new Uint8Array(), { name: 'crashy', version: survivor })).rejects.toMatchObject({
        code: 'ERR_VERSION_EXISTS',
      });
      expect(Object.keys((await after.getPlugin('crashy')).versions)).toHaveLength(versions.length);
    } finally {
      await registry.close();
    }
  });
});
