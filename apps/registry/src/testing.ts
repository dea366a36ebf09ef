// Test helpers for anything that needs plugin tarballs: valid fixtures packed with `tar`, and
// hand-made hostile archives (links, devices, `..`) that `tar` itself refuses to create.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { PluginManifest } from '@plugline/sdk';
import { create } from 'tar';

/** A valid manifest for `name@version` (main `index.js`, sdk `^0.1.0`, a small config schema). */
export function fixtureManifest(name: string, version: string, overrides: Partial<PluginManifest> = {}): PluginManifest {
  return {
    name,
    version,
    description: `Fixture plugin ${name}`,
    main: 'index.js',
    sdk: '^0.1.0',
    keywords: ['fixture'],
    config: {
      type: 'object',
      properties: { greeting: { type: 'string', default: 'hello' }, apiKey: { type: 'string', writeOnly: true } },
    },
    ...overrides,
  } as PluginManifest;
}

/** Options of {@link packPlugin}. */
export interface PackPluginOptions {
  /** The manifest object (written as plugin.json), or raw plugin.json text, or `null` for none. */
  manifest?: PluginManifest | Record<string, unknown> | string | null;
  /** Extra files by relative path; default an `index.js` and a `README.md`. */
  files?: Record<string, string | Uint8Array>;
  /** Top folder inside the tarball (`package` like npm); `''` packs at the root. Default `package`. */
  folder?: string;
}

/**
 * Packs a plugin tarball (gzip) with the `tar` package from a temporary folder.
 *
 * @example
 * ```ts
 * const tarball = await packPlugin({ manifest: fixtureManifest('geoip', '1.0.0') });
 * ```
 */
export async function packPlugin(options: PackPluginOptions = {}): Promise<Uint8Array> {
  const folder = options.folder ?? 'package';
  const root = await mkdtemp(join(tmpdir(), 'plugline-pack-'));
  try {
    const base = join(root, folder);
    const files: Record<string, string | Uint8Array> = {
      'index.js': 'export function processEvent(event) { return event; }\n',
      'README.md': '# Fixture\n\nA fixture plugin.\n',
      ...options.files,
    };
    if (options.manifest !== null) {
      const manifest = options.manifest ?? fixtureManifest('fixture', '1.0.0');
      files['plugin.json'] = typeof manifest === 'string' ? manifest : `${JSON.stringify(manifest, null, 2)}\n`;
    }
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(base, path)), { recursive: true });
      await writeFile(join(base, path), content);
    }
    const out = join(root, 'out.tgz');
    await create({ gzip: true, file: out, cwd: root, portable: true }, folder === '' ? Object.keys(files) : [folder]);
    return new Uint8Array(await readFile(out));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** One hand-made tar entry for {@link rawTarball}. */
export interface RawTarEntry {
  path: string;
  /** Tar type flag: `'0'` file, `'1'` hard link, `'2'` symlink, `'3'` char device, `'4'` block device, `'5'` dir, `'6'` FIFO. */
  type?: string;
  body?: string | Uint8Array;
  linkpath?: string;
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** A ustar header block plus padded body, built byte by byte (no validation, on purpose). */
function rawEntry(entry: RawTarEntry): Buffer {
  const body = entry.body === undefined ? Buffer.alloc(0) : Buffer.from(entry.body);
  const header = Buffer.alloc(512);
  header.write(entry.path, 0, 100, 'utf8');
  writeOctal(header, 100, 8, 0o644);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, body.length);
  writeOctal(header, 136, 12, 0);
  header.write(entry.type ?? '0', 156, 1, 'ascii');
  if (entry.linkpath) header.write(entry.linkpath, 157, 100, 'utf8');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, padding]);
}

/**
 * A gzipped tar made of hand-written headers: the way to build hostile archives (symlinks, hard links,
 * devices, `../` or absolute paths) that the `tar` package refuses to write.
 *
 * @example
 * ```ts
 * rawTarball([{ path: 'plugin.json', body: '{}' }, { path: 'evil', type: '2', linkpath: '/etc/passwd' }]);
 * ```
 */
export function rawTarball(entries: readonly RawTarEntry[], options: { gzip?: boolean } = {}): Uint8Array {
  const tar = Buffer.concat([...entries.map(rawEntry), Buffer.alloc(1024)]);
  return new Uint8Array(options.gzip === false ? tar : gzipSync(tar));
}
