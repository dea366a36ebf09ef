import { gzipSync } from 'node:zlib';
import { PluglineError } from '@plugline/sdk';
import { describe, expect, it } from 'vitest';
import { computeIntegrity, defaultTarballLimits, inspectTarball, unsafePathReason } from './tarball.js';
import { fixtureManifest, packPlugin, rawTarball } from './testing.js';

const manifestText = JSON.stringify(fixtureManifest('hostile', '1.0.0'));

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PluglineError);
    return (error as PluglineError).code;
  }
  throw new Error('expected a rejection');
}

describe('inspectTarball', () => {
  it('reads plugin.json and README.md under one top folder and computes the SRI integrity', async () => {
    const tarball = await packPlugin({ manifest: fixtureManifest('geoip', '1.2.3') });
    const inspected = await inspectTarball(tarball);
    expect(inspected.manifest.name).toBe('geoip');
    expect(inspected.manifest.version).toBe('1.2.3');
    expect(inspected.root).toBe('package/');
    expect(inspected.readme).toContain('# Fixture');
    expect(inspected.integrity).toBe(computeIntegrity(tarball));
    expect(inspected.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
  });

  it('reads plugin.json at the root too', async () => {
    const inspected = await inspectTarball(await packPlugin({ manifest: fixtureManifest('rooted', '0.1.0'), folder: '' }));
    expect(inspected.root).toBe('');
    expect(inspected.manifest.name).toBe('rooted');
  });

  it('accepts a hand-made tar with a plain file and a folder', async () => {
    const tarball = rawTarball([
      { path: 'package/', type: '5' },
      { path: 'package/plugin.json', body: manifestText },
      { path: 'package/index.js', body: 'export {}' },
    ]);
    expect((await inspectTarball(tarball)).manifest.name).toBe('hostile');
  });

  it('caps the README it keeps', async () => {
    const inspected = await inspectTarball(await packPlugin({ manifest: fixtureManifest('big-readme', '1.0.0'), files: { 'README.md': 'x'.repeat(400_000) } }));
    expect(inspected.readme?.length).toBe(256 * 1024);
  });

  it.each([
    ['garbage bytes', new Uint8Array(Buffer.from('definitely not a tarball'))],
    ['an empty body', new Uint8Array(0)],
    ['gzip of garbage', new Uint8Array(gzipSync(Buffer.from('not a tar archive at all, just text'.repeat(40))))],
    ['an uncompressed tar', rawTarball([{ path: 'plugin.json', body: manifestText }], { gzip: false })],
  ])('rejects %s with ERR_TARBALL_INVALID', async (_label, bytes) => {
    expect(await codeOf(inspectTarball(bytes))).toBe('ERR_TARBALL_INVALID');
  });

  it('rejects a truncated gzip stream with ERR_TARBALL_INVALID', async () => {
    const tarball = await packPlugin({ manifest: fixtureManifest('cut', '1.0.0') });
    expect(await codeOf(inspectTarball(tarball.subarray(0, Math.floor(tarball.length / 2))))).toBe('ERR_TARBALL_INVALID');
  });

  it('rejects a truncated tar inside valid gzip with ERR_TARBALL_INVALID', async () => {
    const tar = Buffer.from(rawTarball([{ path: 'plugin.json', body: 'x'.repeat(3000) }], { gzip: false }));
    expect(await codeOf(inspectTarball(new Uint8Array(gzipSync(tar.subarray(0, 1024)))))).toBe('ERR_TARBALL_INVALID');
  });

  it.each([
    ['a symlink', { path: 'package/evil', type: '2', linkpath: '/etc/passwd' }],
    ['a hard link', { path: 'package/evil', type: '1', linkpath: 'package/plugin.json' }],
    ['a character device', { path: 'package/tty', type: '3' }],
    ['a block device', { path: 'package/sda', type: '4' }],
    ['a FIFO', { path: 'package/pipe', type: '6' }],
    ['a ../ path', { path: '../evil.js', body: 'boom' }],
    ['a nested .. path', { path: 'package/../../evil.js', body: 'boom' }],
    ['an absolute path', { path: '/etc/cron.d/evil', body: 'boom' }],
  ])('rejects %s with ERR_TARBALL_UNSAFE_ENTRY', async (_label, entry) => {
    const tarball = rawTarball([{ path: 'package/plugin.json', body: manifestText }, entry]);
    expect(await codeOf(inspectTarball(tarball))).toBe('ERR_TARBALL_UNSAFE_ENTRY');
  });

  it('rejects a path that appears twice with ERR_TARBALL_UNSAFE_ENTRY', async () => {
    const tarball = rawTarball([
      { path: 'package/plugin.json', body: manifestText },
      { path: 'package/index.js', body: 'export {}' },
      { path: 'package/./index.js', body: 'globalThis.evil = 1' },
    ]);
    expect(await codeOf(inspectTarball(tarball))).toBe('ERR_TARBALL_UNSAFE_ENTRY');
  });

  it('rejects a manifest whose main file is not in the tarball with ERR_MANIFEST_INVALID', async () => {
    const tarball = rawTarball([{ path: 'package/plugin.json', body: manifestText }]);
    const error = await inspectTarball(tarball).catch((e: unknown) => e as PluglineError);
    expect((error as PluglineError).code).toBe('ERR_MANIFEST_INVALID');
    expect((error as PluglineError).message).toContain('main');
    const nested = await packPlugin({ manifest: fixtureManifest('nested-main', '1.0.0', { main: 'dist/index.js' }), files: { 'dist/index.js': 'export {}' } });
    expect((await inspectTarball(nested)).manifest.main).toBe('dist/index.js');
  });

  it('rejects a tarball over the size cap with ERR_TARBALL_TOO_LARGE', async () => {
    const tarball = await packPlugin({ manifest: fixtureManifest('big', '1.0.0') });
    const limits = { ...defaultTarballLimits, maxTarballBytes: tarball.length - 1 };
    expect(await codeOf(inspectTarball(tarball, limits))).toBe('ERR_TARBALL_TOO_LARGE');
  });

  it('rejects a file over the unpacked cap with ERR_TARBALL_LIMITS', async () => {
    const tarball = await packPlugin({ manifest: fixtureManifest('wide', '1.0.0'), files: { 'data.bin': 'a'.repeat(200_000) } });
    const limits = { ...defaultTarballLimits, maxUnpackedBytes: 100_000 };
    expect(await codeOf(inspectTarball(tarball, limits))).toBe('ERR_TARBALL_LIMITS');
  });

  it('stops a gzip bomb at the unpacked cap with ERR_TARBALL_LIMITS', async () => {
    // ~64 MiB of zeros compresses to ~64 KiB; the decompressor must stop long before the end.
    const bomb = new Uint8Array(gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 }));
    expect(bomb.length).toBeLessThan(200_000);
    const limits = { ...defaultTarballLimits, maxUnpackedBytes: 1024 * 1024, maxEntries: 100 };
    expect(await codeOf(inspectTarball(bomb, limits))).toBe('ERR_TARBALL_LIMITS');
  });

  it('rejects too many entries with ERR_TARBALL_LIMITS', async () => {
    const files = Object.fromEntries(Array.from({ length: 30 }, (_, index) => [`lib/f${index}.js`, '//']));
    const tarball = await packPlugin({ manifest: fixtureManifest('many', '1.0.0'), files });
    expect(await codeOf(inspectTarball(tarball, { ...defaultTarballLimits, maxEntries: 20 }))).toBe('ERR_TARBALL_LIMITS');
  });

  it('rejects a tarball without plugin.json with ERR_MANIFEST_MISSING', async () => {
    expect(await codeOf(inspectTarball(await packPlugin({ manifest: null })))).toBe('ERR_MANIFEST_MISSING');
  });

  it('rejects two top folders that both hold a plugin.json with ERR_MANIFEST_MISSING', async () => {
    const tarball = rawTarball([
      { path: 'a/plugin.json', body: manifestText },
      { path: 'b/plugin.json', body: manifestText },
    ]);
    expect(await codeOf(inspectTarball(tarball))).toBe('ERR_MANIFEST_MISSING');
  });

  it('rejects plugin.json that is not JSON with ERR_MANIFEST_INVALID', async () => {
    expect(await codeOf(inspectTarball(await packPlugin({ manifest: '{ nope' })))).toBe('ERR_MANIFEST_INVALID');
  });

  it('rejects a manifest missing required fields with ERR_MANIFEST_INVALID and lists them', async () => {
    const error = await inspectTarball(await packPlugin({ manifest: { name: 'x', version: '1.0.0' } })).catch((e: unknown) => e as PluglineError);
    expect(error).toBeInstanceOf(PluglineError);
    expect((error as PluglineError).code).toBe('ERR_MANIFEST_INVALID');
    expect((error as PluglineError).message).toContain('main: is required');
  });

  it('rejects a config that is not a valid JSON Schema with ERR_CONFIG_SCHEMA_INVALID', async () => {
    const manifest = fixtureManifest('bad-schema', '1.0.0', { config: { type: 'object', properties: { n: { type: 'nope' } } } as never });
    expect(await codeOf(inspectTarball(await packPlugin({ manifest })))).toBe('ERR_CONFIG_SCHEMA_INVALID');
  });
});

describe('unsafePathReason', () => {
  it.each(['/abs', 'C:/win', '\\\\share', 'a/../b', '..', 'a\0b', ''])('flags %j', (path) => {
    expect(unsafePathReason(path)).toBeDefined();
  });
  it.each(['package/plugin.json', './index.js', 'a/b..c/d', '..hidden'])('allows %j', (path) => {
    expect(unsafePathReason(path)).toBeUndefined();
  });
});
