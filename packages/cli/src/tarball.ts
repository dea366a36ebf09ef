import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { create as createTar } from 'tar';

/** One file to put in a plugin tarball, under `package/`. */
export interface TarballFile {
  /** Path inside `package/`, with forward slashes, e.g. `dist/index.js`. */
  path: string;
  content: Uint8Array | string;
}

/** The mtime of every entry: a fixed instant, so the same files always give the same bytes (npm uses the same one). */
export const FIXED_MTIME = new Date('1985-10-26T08:15:00.000Z');

/**
 * Writes a reproducible gzip tarball: entries under `package/`, sorted by path, mtime {@link FIXED_MTIME},
 * mode 0644, no uid/gid/uname/atime/ctime (tar's `portable` mode), and a gzip header without a
 * timestamp or OS byte. The same files give the same bytes on any machine.
 *
 * @example
 * ```ts
 * const bytes = await createReproducibleTarball([{ path: 'plugin.json', content: '{}' }]);
 * ```
 */
export async function createReproducibleTarball(files: readonly TarballFile[]): Promise<Uint8Array> {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // node-tar packs from disk, so the files are staged with fixed modes and times first.
  const staging = await mkdtemp(path.join(tmpdir(), 'plugline-pack-'));
  try {
    const entries: string[] = [];
    for (const file of sorted) {
      const relative = `package/${file.path}`;
      const absolute = path.join(staging, ...relative.split('/'));
      await mkdir(path.dirname(absolute), { recursive: true });
      await writeFile(absolute, file.content);
      await chmod(absolute, 0o644);
      await utimes(absolute, FIXED_MTIME, FIXED_MTIME);
      entries.push(relative);
    }
    const stream = createTar({ cwd: staging, gzip: { level: 9 }, portable: true, mtime: FIXED_MTIME, noDirRecurse: true }, entries);
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return new Uint8Array(Buffer.concat(chunks));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The Subresource-Integrity string of some bytes: `sha512-` + base64 of their SHA-512 digest (what npm
 * lockfiles use and what the registry and runtime check).
 */
export function integrityOf(bytes: Uint8Array): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

/** The file name npm would give a tarball: `@acme/geoip@1.0.0` -> `acme-geoip-1.0.0.tgz`. */
export function tarballFileName(name: string, version: string): string {
  return `${name.replace(/^@/, '').replace(/\//g, '-')}-${version}.tgz`;
}
