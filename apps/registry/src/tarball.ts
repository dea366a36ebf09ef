import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { type PluginManifest, PluglineError, convertPostHogManifest, isPostHogManifest, validateManifest } from '@plugline/sdk';
import { Parser, type ReadEntry } from 'tar';

/** Size and count caps applied to every published tarball. */
export interface TarballLimits {
  /** Largest accepted tarball (compressed), in bytes. Default 10 MiB. */
  maxTarballBytes: number;
  /** Largest total size of the files inside, in bytes. Default 50 MiB. */
  maxUnpackedBytes: number;
  /** Most entries (files and folders) a tarball may hold. Default 10 000. */
  maxEntries: number;
}

/** The limits used when the registry is started without `limits`. */
export const defaultTarballLimits: TarballLimits = {
  maxTarballBytes: 10 * 1024 * 1024,
  maxUnpackedBytes: 50 * 1024 * 1024,
  maxEntries: 10_000,
};

/** The README kept per version is cut to this many bytes (it is shown on the marketplace page). */
export const maxReadmeBytes = 256 * 1024;

/** What {@link inspectTarball} learns from a tarball. */
export interface InspectedTarball {
  manifest: PluginManifest;
  readme: string | undefined;
  /** SRI integrity of the tarball bytes, `sha512-<base64>`. */
  integrity: string;
  size: number;
  /** The folder `plugin.json` was found under (`''` for the root, else e.g. `package/`). */
  root: string;
  entries: number;
}

/** SRI integrity (`sha512-<base64>`) of some bytes. */
export function computeIntegrity(bytes: Uint8Array): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

// Only plain files and folders may be in a plugin tarball; everything else could escape on unpack.
const allowedTypes = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

/**
 * Validates a plugin tarball entirely in memory: gzip, tar structure, size/entry caps, safe entry
 * paths and types, and the `plugin.json` manifest (at the root or under one top folder). Throws a
 * {@link PluglineError} (`ERR_TARBALL_*`, `ERR_MANIFEST_*`, `ERR_CONFIG_SCHEMA_INVALID`) on the first problem.
 */
export async function inspectTarball(
  bytes: Uint8Array,
  limits: TarballLimits = defaultTarballLimits,
  publish?: { name: string; version: string },
): Promise<InspectedTarball> {
  const files = await readTarball(bytes, limits, isKeptFile);
  const root = findManifestRoot(files);
  const manifestBytes = root === undefined ? undefined : files.get(`${root}plugin.json`);
  if (root === undefined || manifestBytes === undefined) {
    throw new PluglineError('ERR_MANIFEST_MISSING', 'The tarball has no plugin.json at its root or under one top folder');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifestBytes.toString('utf8'));
  } catch (error) {
    throw new PluglineError('ERR_MANIFEST_INVALID', `plugin.json is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  // A PostHog plugin.json (no version, a config array) is converted with the URL's name and version; the
  // converted manifest keeps the original under `posthog`.
  if (publish && isPostHogManifest(parsed)) parsed = convertPostHogTarballManifest(parsed, publish, (file) => files.has(normalizeEntryPath(`${root}${file}`)));
  const { value: manifest, errors } = validateManifest(parsed);
  if (!manifest) {
    // validateManifest reports a bad config schema with `config: ` prefixed errors once the shape is fine.
    const code = errors.every((error) => error.startsWith('config: ')) ? 'ERR_CONFIG_SCHEMA_INVALID' : 'ERR_MANIFEST_INVALID';
    throw new PluglineError(code, `plugin.json: ${errors.join('; ')}`, { details: errors });
  }
  const mainPath = normalizeEntryPath(`${root}${manifest.main}`);
  if (!files.has(mainPath)) {
    throw new PluglineError('ERR_MANIFEST_INVALID', `plugin.json: main: "${manifest.main}" is not a file in the tarball`, {
      details: [`main: "${manifest.main}" is not a file in the tarball`],
    });
  }
  const readmeKey = [...files.keys()].find((key) => key.toLowerCase() === `${root}readme.md`);
  const readmeBytes = readmeKey === undefined ? undefined : files.get(readmeKey);
  return {
    manifest,
    readme: readmeBytes === undefined ? undefined : readmeBytes.subarray(0, maxReadmeBytes).toString('utf8'),
    integrity: computeIntegrity(bytes),
    size: bytes.byteLength,
    root,
    entries: files.size,
  };
}

/** What {@link inspectNpmTarball} learns from an npm package tarball. */
export interface InspectedNpmTarball {
  /** `package/package.json`. */
  manifest: Record<string, unknown>;
  integrity: string;
  /** Hex sha1 (npm's `dist.shasum`). */
  shasum: string;
  size: number;
}

/**
 * Validates an npm package tarball (what `npm pack` writes) in memory with the same gzip, tar, safety
 * and size checks as a plugin's, and requires `package/package.json` naming `expected.name` and
 * `expected.version` (`ERR_NAME_MISMATCH`, `ERR_VERSION_MISMATCH`, `ERR_MANIFEST_MISSING`).
 */
export async function inspectNpmTarball(bytes: Uint8Array, limits: TarballLimits, expected: { name: string; version: string }): Promise<InspectedNpmTarball> {
  const files = await readTarball(bytes, limits, (path) => path === 'package/package.json');
  const packageJson = files.get('package/package.json');
  if (packageJson === undefined) throw new PluglineError('ERR_MANIFEST_MISSING', 'The tarball has no package/package.json');
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(packageJson.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new PluglineError('ERR_MANIFEST_INVALID', `package.json is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (manifest.name !== expected.name) throw new PluglineError('ERR_NAME_MISMATCH', `package.json names "${String(manifest.name)}" but the request says "${expected.name}"`);
  if (manifest.version !== expected.version) {
    throw new PluglineError('ERR_VERSION_MISMATCH', `package.json has version ${String(manifest.version)} but the request says ${expected.version}`);
  }
  return { manifest, integrity: computeIntegrity(bytes), shasum: createHash('sha1').update(bytes).digest('hex'), size: bytes.byteLength };
}

/** Size, gzip and tar checks shared by plugin and npm tarballs; keeps the bodies of the files `keep` names. */
async function readTarball(bytes: Uint8Array, limits: TarballLimits, keep: (path: string) => boolean): Promise<Map<string, Buffer | undefined>> {
  if (bytes.byteLength > limits.maxTarballBytes) {
    throw new PluglineError('ERR_TARBALL_TOO_LARGE', `The tarball is ${bytes.byteLength} bytes; the limit is ${limits.maxTarballBytes}`);
  }
  if (bytes.byteLength < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new PluglineError('ERR_TARBALL_INVALID', 'The tarball is not gzip-compressed');
  }
  // Headers and padding add up to ~1 KiB per entry on top of the file bytes; anything beyond is a zip bomb.
  const maxTarBytes = limits.maxUnpackedBytes + (limits.maxEntries + 4) * 1536;
  let tarBytes: Buffer;
  try {
    tarBytes = gunzipSync(bytes, { maxOutputLength: maxTarBytes });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw new PluglineError('ERR_TARBALL_LIMITS', `The tarball unpacks to more than ${maxTarBytes} bytes`, { cause: error });
    }
    throw new PluglineError('ERR_TARBALL_INVALID', `The tarball is not valid gzip: ${(error as Error).message}`, { cause: error });
  }
  return readTarEntries(tarBytes, limits, keep);
}

/**
 * Converts a PostHog `plugin.json` found in a tarball; `main` is the bundled entry present in the
 * tarball (`main` with `.ts` -> `.js`, `dist/index.js`, `index.js`, in that order).
 */
function convertPostHogTarballManifest(
  original: Parameters<typeof convertPostHogManifest>[0] & { main?: unknown },
  publish: { name: string; version: string },
  hasFile: (file: string) => boolean,
): PluginManifest {
  const declared = typeof original.main === 'string' ? original.main.replace(/\.ts$/, '.js') : undefined;
  const main = [declared, 'dist/index.js', 'index.js'].find((file) => file !== undefined && hasFile(file)) ?? declared ?? 'index.js';
  const { value, errors } = convertPostHogManifest(original, { version: publish.version, name: publish.name, main });
  if (!value) throw new PluglineError('ERR_MANIFEST_INVALID', `plugin.json (PostHog format): ${errors.join('; ')}`, { details: errors });
  return value;
}

/** `plugin.json` at the root, else under exactly one top folder (npm packs under `package/`). */
function findManifestRoot(files: Map<string, Buffer | undefined>): string | undefined {
  if (files.has('plugin.json')) return '';
  const roots = [...files.keys()].filter((key) => /^[^/]+\/plugin\.json$/.test(key)).map((key) => key.slice(0, -'plugin.json'.length));
  return roots.length === 1 ? roots[0] : undefined;
}

/** Why an entry path is unsafe, or undefined if it is a plain relative path. */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'empty path';
  if (path.includes('\0')) return 'NUL byte in path';
  if (path.startsWith('/') || path.startsWith('\\') || /^[a-zA-Z]:/.test(path)) return 'absolute path';
  if (path.split(/[/\\]/).includes('..')) return '".." in path';
  return undefined;
}

/** Normalizes `./a//b/` to `a/b` for lookups. */
function normalizeEntryPath(path: string): string {
  return path
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

function isKeptFile(path: string): boolean {
  // Only plugin.json and README.md (at the root or one folder down) are read into memory.
  return /^(?:[^/]+\/)?(?:plugin\.json|readme\.md)$/i.test(path);
}

/** Parses the (already gunzipped) tar, enforcing limits and safety, keeping plugin.json and README bodies. */
function readTarEntries(tarBytes: Buffer, limits: TarballLimits, keep: (path: string) => boolean): Promise<Map<string, Buffer | undefined>> {
  return new Promise((resolve, reject) => {
    const files = new Map<string, Buffer | undefined>();
    let unpackedBytes = 0;
    let entryCount = 0;
    let failure: PluglineError | undefined;
    const parser = new Parser({ strict: true });
    // Settle on the first failure: an aborted parser emits neither 'end' nor 'close'.
    const fail = (error: PluglineError) => {
      if (failure) return;
      failure = error;
      reject(error);
      parser.abort(error);
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (failure) {
        entry.resume();
        return;
      }
      entryCount += 1;
      unpackedBytes += entry.size;
      const rawPath = entry.header.path ?? entry.path;
      const reason = unsafePathReason(entry.path) ?? unsafePathReason(rawPath);
      if (!allowedTypes.has(entry.type)) {
        fail(new PluglineError('ERR_TARBALL_UNSAFE_ENTRY', `Entry "${entry.path}" is a ${entry.type}; only files and folders are allowed`));
      } else if (reason) {
        fail(new PluglineError('ERR_TARBALL_UNSAFE_ENTRY', `Entry "${entry.path}" is unsafe: ${reason}`));
      } else if (entryCount > limits.maxEntries) {
        fail(new PluglineError('ERR_TARBALL_LIMITS', `The tarball has more than ${limits.maxEntries} entries`));
      } else if (unpackedBytes > limits.maxUnpackedBytes) {
        fail(new PluglineError('ERR_TARBALL_LIMITS', `The tarball unpacks to more than ${limits.maxUnpackedBytes} bytes`));
      }
      const path = normalizeEntryPath(entry.path);
      // Two entries with one path would let the registry validate one file and an unpacker keep the other.
      if (!failure && entry.type !== 'Directory' && files.has(path)) {
        fail(new PluglineError('ERR_TARBALL_UNSAFE_ENTRY', `Entry "${entry.path}" appears twice`));
      }
      if (failure || entry.type === 'Directory' || !keep(path)) {
        if (!failure && entry.type !== 'Directory') files.set(path, undefined);
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => files.set(path, Buffer.concat(chunks)));
    });
    parser.on('error', (error: Error) => {
      fail(new PluglineError('ERR_TARBALL_INVALID', `The tarball is not a valid tar archive: ${error.message}`, { cause: error }));
    });
    parser.on('end', () => {
      if (!failure) resolve(files);
    });
    parser.end(tarBytes);
  });
}
