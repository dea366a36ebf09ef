import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawTarball } from '@plugline/registry/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPlugin, integrityKey, loadCachedPlugin, parsePluginSpec, readTarball } from './install.js';
import { fixtures } from './test/fixtures.js';
import { startTestRegistry } from './test/helpers.js';

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const dirs: string[] = [];
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-install-'));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  registry = await startTestRegistry([fixtures.first]);
});
afterAll(async () => {
  await registry.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('parsePluginSpec', () => {
  it('splits names, scoped names and specs', () => {
    expect(parsePluginSpec('geoip@^1.0.0')).toEqual({ name: 'geoip', spec: '^1.0.0' });
    expect(parsePluginSpec('@acme/geoip@beta')).toEqual({ name: '@acme/geoip', spec: 'beta' });
    expect(parsePluginSpec('@acme/geoip')).toEqual({ name: '@acme/geoip', spec: 'latest' });
    expect(parsePluginSpec('geoip')).toEqual({ name: 'geoip', spec: 'latest' });
  });
});

describe('readTarball (nothing touches the disk)', () => {
  const manifest = JSON.stringify({ name: 'x', version: '1.0.0', main: 'index.js', sdk: '*', config: { type: 'object' } });
  it.each([
    ['a symlink', { path: 'package/evil', type: '2', linkpath: '/etc/passwd' }, 'ERR_TARBALL_UNSAFE_ENTRY'],
    ['a hard link', { path: 'package/evil', type: '1', linkpath: 'package/plugin.json' }, 'ERR_TARBALL_UNSAFE_ENTRY'],
    ['a device', { path: 'package/dev', type: '3' }, 'ERR_TARBALL_UNSAFE_ENTRY'],
    ['a .. path', { path: 'package/../../escape.js', body: 'x' }, 'ERR_TARBALL_UNSAFE_ENTRY'],
    ['an absolute path', { path: '/tmp/escape.js', body: 'x' }, 'ERR_TARBALL_UNSAFE_ENTRY'],
  ])('rejects %s', async (_label, entry, code) => {
    await expect(readTarball(rawTarball([{ path: 'package/plugin.json', body: manifest }, entry]))).rejects.toMatchObject({ code });
  });

  it('enforces the entry and size caps, and rejects what is not gzip', async () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ path: `package/f${i}.js`, body: 'x' }));
    await expect(readTarball(rawTarball(many), { maxTarballBytes: 1e6, maxUnpackedBytes: 1e6, maxEntries: 3 })).rejects.toMatchObject({ code: 'ERR_TARBALL_LIMITS' });
    const big = [{ path: 'package/big.js', body: 'x'.repeat(10_000) }];
    await expect(readTarball(rawTarball(big), { maxTarballBytes: 1e6, maxUnpackedBytes: 1000, maxEntries: 10 })).rejects.toMatchObject({ code: 'ERR_TARBALL_LIMITS' });
    await expect(readTarball(new TextEncoder().encode('plain text'))).rejects.toMatchObject({ code: 'ERR_TARBALL_INVALID' });
  });
});

describe('integrity', () => {
  it('refuses a download whose bytes do not match the registry integrity, before unpacking anything', async () => {
    // A man in the middle: forwards to the real registry but flips one byte of every tarball.
    const proxy: Server = createServer(async (req, res) => {
      const upstream = await fetch(`${registry.url}${req.url}`);
      let body = Buffer.from(await upstream.arrayBuffer());
      if (req.url?.endsWith('.tgz')) {
        const at = body.length - 10;
        body.writeUInt8(body.readUInt8(at) ^ 0xff, at);
      } else {
        body = Buffer.from(body.toString('utf8').replaceAll(registry.url, `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`));
      }
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const cacheDir = await tempDir();
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      await expect(installPlugin({ registryUrl: url, spec: 'first@1.0.0', cacheDir })).rejects.toMatchObject({ code: 'ERR_TARBALL_INTEGRITY' });
      expect(await readdir(cacheDir).catch(() => [])).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('re-verifies cached bytes: a tampered cache is refused offline', async () => {
    const cacheDir = await tempDir();
    const installed = await installPlugin({ registryUrl: registry.url, spec: 'first@1.0.0', cacheDir });
    const pin = { name: 'first', version: '1.0.0', integrity: installed.integrity, resolved: installed.resolved };
    expect((await loadCachedPlugin(cacheDir, pin)).code).toBe(installed.code);
    await writeFile(join(cacheDir, `${integrityKey(installed.integrity)}.tgz`), 'tampered');
    await expect(loadCachedPlugin(cacheDir, pin)).rejects.toMatchObject({ code: 'ERR_TARBALL_INTEGRITY' });
    await expect(loadCachedPlugin(await tempDir(), pin)).rejects.toMatchObject({ code: 'ERR_LOCKFILE_INVALID' });
  });
});

describe('@plugline/runtime/install entry point', () => {
  it('exports the install and chain-editing API without loading the sandbox, the server or their heavy dependencies', async () => {
    const { readFile } = await import('node:fs/promises');
    const { dirname, resolve } = await import('node:path');
    const here = dirname(new URL(import.meta.url).pathname);
    // The entry's module graph, following relative imports (type-only imports are erased at build time).
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = async (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = await readFile(file, 'utf8');
      for (const match of source.matchAll(/^(?:import|export) (?!type )[^;]*? from '([^']+)';/gms)) {
        const specifier = match[1]!;
        if (specifier.startsWith('.')) await visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
        else packages.add(specifier);
      }
    };
    await visit(join(here, 'installer.ts'));
    const modules = [...seen].map((file) => file.slice(here.length + 1)).sort();
    expect(modules).toEqual(['capabilities.ts', 'install.ts', 'installer.ts', 'project.ts', 'runtime-file.ts']);
    for (const heavy of ['isolated-vm', 'express', 'prom-client', 'pino', 'geoip-lite']) expect(packages).not.toContain(heavy);
    const api = await import('./installer.js');
    for (const name of ['installPlugin', 'addPlugin', 'removePlugin', 'listPlugins', 'setPluginConfig', 'setPluginGrants', 'readProject', 'readLock', 'checkConfig', 'readRuntimeFile']) {
      expect(typeof (api as Record<string, unknown>)[name]).toBe('function');
    }
  });
});
