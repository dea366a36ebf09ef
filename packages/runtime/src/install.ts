import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { VersionDocument } from '@plugline/registry-client';
import { errorFromAnswer, type PluginManifest, PluglineError, SDK_VERSION, convertPostHogManifest, isPostHogManifest, validateManifest } from '@plugline/sdk';
import semver from 'semver';
import { Parser, type ReadEntry } from 'tar';

/** Caps applied to every downloaded tarball before and while it is unpacked. */
export interface InstallLimits {
  /** Largest tarball (compressed) in bytes. Default 10 MiB. */
  maxTarballBytes: number;
  /** Largest total size of the files inside. Default 50 MiB. */
  maxUnpackedBytes: number;
  /** Most entries (files and folders). Default 10 000. */
  maxEntries: number;
}

export const defaultInstallLimits: InstallLimits = { maxTarballBytes: 10 * 1024 * 1024, maxUnpackedBytes: 50 * 1024 * 1024, maxEntries: 10_000 };

/** An installed plugin: where its files are and what it is. */
export interface InstalledPlugin {
  name: string;
  version: string;
  /** SRI integrity of the tarball, `sha512-<base64>`. */
  integrity: string;
  /** Where the tarball was downloaded from. */
  resolved: string;
  manifest: PluginManifest;
  /** The unpacked package folder in the cache. */
  dir: string;
  /** The source of `manifest.main`. */
  code: string;
  /** Set on a stand-in for a plugin whose code could not be loaded ({@link unavailablePlugin}): why. */
  unavailable?: PluglineError;
  /** The registry's deprecation message of this version, when it is deprecated (fresh resolves only). */
  deprecated?: string;
}

/** Options of {@link installPlugin}. */
export interface InstallOptions {
  registryUrl: string;
  /** `name@range`, `name@1.2.3`, `name@tag` or just `name` (= `latest`); scoped names allowed. */
  spec: string;
  /** Cache of tarballs and unpacked packages, keyed by integrity. */
  cacheDir: string;
  limits?: Partial<InstallLimits>;
}

/** Splits `name@spec` (`@scope/name@spec` too); a bare name means `latest`. */
export function parsePluginSpec(input: string): { name: string; spec: string } {
  const at = input.indexOf('@', input.startsWith('@') ? 1 : 0);
  if (at < 0) return { name: input, spec: 'latest' };
  const name = input.slice(0, at);
  const spec = input.slice(at + 1) || 'latest';
  if (!name) throw new PluglineError('ERR_SPEC_INVALID', `"${input}" is not name@spec`);
  return { name, spec };
}

/** SRI integrity (`sha512-<base64>`) of bytes. */
export function computeIntegrity(bytes: Uint8Array): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

/** A filesystem-safe cache key for an integrity string. */
export function integrityKey(integrity: string): string {
  const [algorithm, base64] = integrity.split('-', 2);
  if (algorithm !== 'sha512' || !base64) throw new PluglineError('ERR_TARBALL_INTEGRITY', `unsupported integrity "${integrity}"`);
  return `sha512-${Buffer.from(base64, 'base64').toString('hex')}`;
}

/**
 * Installs a plugin from a registry: resolves the spec, downloads the tarball (size-capped), checks
 * its sha512 against the registry's integrity BEFORE anything is unpacked, unpacks it safely (only
 * plain files and folders, no absolute paths or `..`, size and entry caps), validates `plugin.json`,
 * and checks `manifest.sdk` against this runtime's SDK version. A cached copy with the same integrity
 * is used without downloading.
 *
 * @example
 * ```ts
 * const plugin = await installPlugin({ registryUrl, spec: 'geoip@^1.0.0', cacheDir: '.plugline/runtime/cache' });
 * ```
 */
export async function installPlugin(options: InstallOptions): Promise<InstalledPlugin> {
  const { name, spec } = parsePluginSpec(options.spec);
  const doc = await resolveVersion(options.registryUrl, name, spec);
  const installed = await fetchResolved(options, doc);
  return doc.deprecated ? { ...installed, deprecated: doc.deprecated } : installed;
}

async function fetchResolved(options: InstallOptions, doc: VersionDocument): Promise<InstalledPlugin> {
  const cached = await loadCachedPlugin(options.cacheDir, { name: doc.name, version: doc.version, integrity: doc.integrity, resolved: doc.tarball }).catch(() => undefined);
  if (cached) return cached;
  const limits = { ...defaultInstallLimits, ...options.limits };
  const bytes = await downloadTarball(doc.tarball, limits.maxTarballBytes);
  const actual = computeIntegrity(bytes);
  if (actual !== doc.integrity) {
    throw new PluglineError('ERR_TARBALL_INTEGRITY', `${doc.name}@${doc.version}: the registry says ${doc.integrity}, the download is ${actual}`);
  }
  return unpackToCache(options.cacheDir, bytes, { name: doc.name, version: doc.version, integrity: doc.integrity, resolved: doc.tarball }, limits);
}

/**
 * Loads a plugin from the cache only (offline), as pinned in a lockfile: the cached tarball's bytes
 * are re-hashed against `integrity`; the unpacked folder is recreated from them if it is missing.
 * Throws `ERR_LOCKFILE_INVALID` when the cache does not hold those bytes.
 */
export async function loadCachedPlugin(
  cacheDir: string,
  pin: { name: string; version: string; integrity: string; resolved: string },
  limits: Partial<InstallLimits> = {},
): Promise<InstalledPlugin> {
  const key = integrityKey(pin.integrity);
  const tarballPath = join(cacheDir, `${key}.tgz`);
  let bytes: Buffer;
  try {
    bytes = await readFile(tarballPath);
  } catch {
    throw new PluglineError('ERR_LOCKFILE_INVALID', `${pin.name}@${pin.version} (${pin.integrity}) is not in the cache`);
  }
  if (computeIntegrity(bytes) !== pin.integrity) {
    throw new PluglineError('ERR_TARBALL_INTEGRITY', `the cached tarball of ${pin.name}@${pin.version} does not match ${pin.integrity}`);
  }
  const dir = join(cacheDir, key);
  if (!existsSync(join(dir, 'plugin.json'))) return unpackToCache(cacheDir, bytes, pin, { ...defaultInstallLimits, ...limits });
  // What runs is what was verified: the manifest and code come from the verified tarball's bytes, and
  // every file unpacked from it must still be byte-for-byte what it holds (an edited index.js fails here).
  const files = await readTarball(bytes, { ...defaultInstallLimits, ...limits });
  const { root, manifest } = packageFromFiles(files, pin);
  for (const [path, content] of files) {
    if (!path.startsWith(root)) continue;
    const relative = path.slice(root.length);
    const onDisk = await readFile(join(dir, relative)).catch(() => undefined);
    if (!onDisk?.equals(content)) {
      throw new PluglineError(
        'ERR_PLUGIN_INTEGRITY',
        `${pin.name}@${pin.version}: cache/${key}/${relative} ${onDisk ? 'differs from' : 'is missing from'} the verified tarball (${pin.integrity}); delete cache/${key}/ to unpack it again from the verified tarball`,
      );
    }
  }
  const code = files.get(`${root}${manifest.main}`)!.toString('utf8');
  return { name: pin.name, version: pin.version, integrity: pin.integrity, resolved: pin.resolved, manifest, dir, code };
}

/**
 * A stand-in for a pinned plugin whose code could not be loaded (e.g. `ERR_PLUGIN_INTEGRITY`): it keeps
 * the chain entry visible (status `error`) and runs nothing; its config schema marks every key secret so
 * nothing of the config is shown.
 */
export function unavailablePlugin(
  entry: { name: string; config: Record<string, unknown> },
  pin: { version: string; integrity: string; resolved: string },
  reason: PluglineError,
): InstalledPlugin {
  const properties = Object.fromEntries(Object.keys(entry.config).map((key) => [key, { writeOnly: true }]));
  const manifest: PluginManifest = { name: entry.name, version: pin.version, main: 'index.js', sdk: '*', config: { type: 'object', properties } as PluginManifest['config'] };
  return { name: entry.name, version: pin.version, integrity: pin.integrity, resolved: pin.resolved, manifest, dir: '', code: '', unavailable: reason };
}

// Installing talks HTTP with node:http(s), not the global fetch: the first fetch in a process loads
// undici, ~65 ms here, which was a quarter of a `plugline install`. Two GETs need none of its features.
// The modules come from process.getBuiltinModule, not an ES import: the ES module facade of node:http
// reads every export, and its lazy `WebSocket`/`EventSource` getters load undici all the same.

/** Follows redirects (as fetch does, at most 20) and resolves to the final response, its body unread. */
async function httpGet(url: string, headers: Record<string, string> = {}, redirects = 20): Promise<IncomingMessage> {
  const target = new URL(url);
  // node:https (TLS) is only loaded for an https registry.
  const request =
    target.protocol === 'https:'
      ? process.getBuiltinModule('node:https').request
      : target.protocol === 'http:'
        ? process.getBuiltinModule('node:http').request
        : undefined;
  if (!request) throw new TypeError(`unsupported protocol ${target.protocol} in ${url}`);
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const options: RequestOptions = { method: 'GET', headers };
    request(target, options, resolve).on('error', reject).end();
  });
  const location = response.headers.location;
  if (response.statusCode && [301, 302, 303, 307, 308].includes(response.statusCode) && location) {
    response.resume();
    if (redirects === 0) throw new TypeError(`too many redirects from ${url}`);
    return httpGet(new URL(location, target).href, headers, redirects - 1);
  }
  return response;
}

/** The body of a response, at most `maxBytes` (else `tooLarge()` is thrown and the response dropped). */
async function readBody(response: IncomingMessage, maxBytes = Number.POSITIVE_INFINITY, tooLarge?: () => PluglineError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      response.destroy();
      throw tooLarge?.() ?? new PluglineError('ERR_TARBALL_TOO_LARGE', `the response is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * `GET /api/v1/plugins/:name/versions/:spec`: the version a spec resolves to. Errors as the registry
 * client's: the registry's own error code and message, else `ERR_REGISTRY_RESPONSE`; a network failure
 * is `ERR_REGISTRY_UNREACHABLE`.
 */
async function resolveVersion(registryUrl: string, name: string, spec: string): Promise<VersionDocument> {
  const base = registryUrl.replace(/\/+$/, '');
  const path = `/api/v1/plugins/${encodeURIComponent(name)}/versions/${encodeURIComponent(spec)}`;
  let response: IncomingMessage;
  let body: Buffer;
  try {
    response = await httpGet(`${base}${path}`, { accept: 'application/json' });
    body = await readBody(response);
  } catch (error) {
    throw new PluglineError('ERR_REGISTRY_UNREACHABLE', `The registry at ${base} could not be reached: ${(error as Error).message}`, { cause: error });
  }
  const status = response.statusCode ?? 0;
  const text = body.toString('utf8');
  if (status >= 200 && status < 300) {
    try {
      return JSON.parse(text) as VersionDocument;
    } catch (error) {
      throw new PluglineError('ERR_REGISTRY_RESPONSE', `GET ${path} answered invalid JSON: ${(error as Error).message}`);
    }
  }
  throw errorFromAnswer(status, text, `GET ${path}`);
}

async function downloadTarball(url: string, maxBytes: number): Promise<Buffer> {
  let response: IncomingMessage;
  try {
    response = await httpGet(url);
  } catch (error) {
    throw new PluglineError('ERR_REGISTRY_UNREACHABLE', `could not download ${url}: ${(error as Error).message}`, { cause: error });
  }
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    response.resume();
    throw new PluglineError('ERR_REGISTRY_RESPONSE', `GET ${url} answered ${status}`);
  }
  const declared = Number(response.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    response.destroy();
    throw new PluglineError('ERR_TARBALL_TOO_LARGE', `the tarball is ${declared} bytes; the limit is ${maxBytes}`);
  }
  try {
    return await readBody(response, maxBytes, () => new PluglineError('ERR_TARBALL_TOO_LARGE', `the tarball is larger than the limit of ${maxBytes} bytes`));
  } catch (error) {
    if (error instanceof PluglineError) throw error;
    throw new PluglineError('ERR_REGISTRY_UNREACHABLE', `could not download ${url}: ${(error as Error).message}`, { cause: error });
  }
}

const allowedTypes = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'empty path';
  if (path.includes('\0')) return 'NUL byte in path';
  if (path.startsWith('/') || path.startsWith('\\') || /^[a-zA-Z]:/.test(path)) return 'absolute path';
  if (path.split(/[/\\]/).includes('..')) return '".." in path';
  return undefined;
}

/**
 * Reads every file of a gzip tarball into memory, rejecting anything but plain files and folders,
 * unsafe paths, and archives over the caps. Nothing touches the disk here.
 */
export async function readTarball(bytes: Uint8Array, limits: InstallLimits = defaultInstallLimits): Promise<Map<string, Buffer>> {
  if (bytes.byteLength > limits.maxTarballBytes) throw new PluglineError('ERR_TARBALL_TOO_LARGE', `the tarball is ${bytes.byteLength} bytes`);
  let tarBytes: Buffer;
  const maxTarBytes = limits.maxUnpackedBytes + (limits.maxEntries + 4) * 1536;
  try {
    tarBytes = gunzipSync(bytes, { maxOutputLength: maxTarBytes });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw new PluglineError('ERR_TARBALL_LIMITS', `the tarball unpacks to more than ${maxTarBytes} bytes`);
    }
    throw new PluglineError('ERR_TARBALL_INVALID', `the tarball is not valid gzip: ${(error as Error).message}`);
  }
  return new Promise((resolve, reject) => {
    const files = new Map<string, Buffer>();
    let unpacked = 0;
    let count = 0;
    let failure: PluglineError | undefined;
    const parser = new Parser({ strict: true });
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      if (failure) reject(failure);
      else resolve(files);
    };
    const fail = (error: PluglineError) => {
      if (failure) return;
      failure = error;
      // Reject at once: an aborted parser does not always emit 'end' or 'close'.
      done();
      parser.abort(error);
    };
    parser.on('entry', (entry: ReadEntry) => {
      count += 1;
      unpacked += entry.size;
      const reason = unsafePathReason(entry.path) ?? unsafePathReason(entry.header.path ?? entry.path);
      if (!allowedTypes.has(entry.type)) fail(new PluglineError('ERR_TARBALL_UNSAFE_ENTRY', `entry "${entry.path}" is a ${entry.type}`));
      else if (reason) fail(new PluglineError('ERR_TARBALL_UNSAFE_ENTRY', `entry "${entry.path}": ${reason}`));
      else if (count > limits.maxEntries) fail(new PluglineError('ERR_TARBALL_LIMITS', `more than ${limits.maxEntries} entries`));
      else if (unpacked > limits.maxUnpackedBytes) fail(new PluglineError('ERR_TARBALL_LIMITS', `unpacks to more than ${limits.maxUnpackedBytes} bytes`));
      if (failure || entry.type === 'Directory') {
        entry.resume();
        return;
      }
      const path = entry.path.split('/').filter((segment) => segment !== '' && segment !== '.').join('/');
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => files.set(path, Buffer.concat(chunks)));
    });
    parser.on('error', (error: Error) => {
      if (!failure) failure = new PluglineError('ERR_TARBALL_INVALID', `not a valid tar archive: ${error.message}`);
      done();
    });
    parser.on('abort', done);
    parser.on('close', done);
    parser.on('end', done);
    parser.end(tarBytes);
  });
}

/** Validates and unpacks verified tarball bytes into `cacheDir/<key>/` (atomically, by rename). */
async function unpackToCache(
  cacheDir: string,
  bytes: Buffer,
  pin: { name: string; version: string; integrity: string; resolved: string },
  limits: InstallLimits,
): Promise<InstalledPlugin> {
  const files = await readTarball(bytes, limits);
  const { root, manifest } = packageFromFiles(files, pin);
  const key = integrityKey(pin.integrity);
  const dir = join(cacheDir, key);
  const staging = join(cacheDir, `.staging-${randomUUID()}`);
  try {
    for (const [path, content] of files) {
      if (!path.startsWith(root)) continue;
      const target = join(staging, path.slice(root.length));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    await writeFile(join(cacheDir, `${key}.tgz`), bytes);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  // The manifest was validated and the files written from these very bytes: no second read and
  // validation from the disk (readPackage does that for a cache hit).
  const code = files.get(`${root}${manifest.main}`)!.toString('utf8');
  return { name: pin.name, version: pin.version, integrity: pin.integrity, resolved: pin.resolved, manifest, dir, code };
}

/** The package root inside a tarball's files (plugin.json at the top, or under one folder) and its validated manifest. */
function packageFromFiles(files: Map<string, Buffer>, pin: { name: string; version: string }): { root: string; manifest: PluginManifest } {
  let root = '';
  if (!files.has('plugin.json')) {
    const roots = [...files.keys()].filter((key) => /^[^/]+\/plugin\.json$/.test(key));
    if (roots.length !== 1) throw new PluglineError('ERR_MANIFEST_MISSING', `${pin.name}@${pin.version}: the tarball has no plugin.json`);
    root = roots[0]!.slice(0, -'plugin.json'.length);
  }
  const manifest = parseManifest(files.get(`${root}plugin.json`)!, pin, (file) => files.has(`${root}${file}`));
  if (!files.has(`${root}${manifest.main}`)) {
    throw new PluglineError('ERR_MANIFEST_INVALID', `${pin.name}@${pin.version}: main "${manifest.main}" is not in the tarball`);
  }
  return { root, manifest };
}

function parseManifest(content: Buffer, pin: { name: string; version: string }, hasFile: (file: string) => boolean): PluginManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content.toString('utf8'));
  } catch (error) {
    throw new PluglineError('ERR_MANIFEST_INVALID', `${pin.name}@${pin.version}: plugin.json is not JSON: ${(error as Error).message}`);
  }
  // A PostHog plugin.json published as is: converted the way the registry did (the pinned name and
  // version; main is the bundled entry present: main with .ts -> .js, dist/index.js, index.js).
  if (isPostHogManifest(parsed)) {
    const declared = typeof parsed.main === 'string' ? parsed.main.replace(/\.ts$/, '.js') : undefined;
    const main = [declared, 'dist/index.js', 'index.js'].find((file) => file !== undefined && hasFile(file)) ?? declared ?? 'index.js';
    parsed = convertPostHogManifest(parsed, { version: pin.version, name: pin.name, main }).value ?? parsed;
  }
  const { value: manifest, errors } = validateManifest(parsed);
  if (!manifest) throw new PluglineError('ERR_MANIFEST_INVALID', `${pin.name}@${pin.version}: ${errors.join('; ')}`, { details: errors });
  if (manifest.name !== pin.name || manifest.version !== pin.version) {
    throw new PluglineError('ERR_MANIFEST_INVALID', `plugin.json says ${manifest.name}@${manifest.version}, expected ${pin.name}@${pin.version}`);
  }
  if (!semver.satisfies(SDK_VERSION, manifest.sdk, { includePrerelease: true })) {
    throw new PluglineError(
      'ERR_SDK_INCOMPATIBLE',
      `${pin.name}@${pin.version} needs @plugline/sdk ${manifest.sdk}; this runtime provides ${SDK_VERSION}`,
    );
  }
  return manifest;
}
