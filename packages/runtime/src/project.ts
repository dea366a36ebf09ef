import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PluglineError, redactConfig, restoreSecrets, validateConfig } from '@plugline/sdk';
import { parseGrants, requestedCapabilities, ungrantedError } from './capabilities.js';
import { type InstalledPlugin, installPlugin, loadCachedPlugin, unavailablePlugin } from './install.js';
import type { PluginQuotas } from './quota.js';
import type { EgressMode } from './sandbox/egress.js';

/** One entry of the ordered chain in `plugins.json`. */
export interface PluginEntry {
  name: string;
  /** Version spec: range, exact version or dist-tag. */
  spec: string;
  config: Record<string, unknown>;
  enabled: boolean;
  /** Files attached to the config, by key (PostHog-style attachments). */
  attachments?: Record<string, { content_type: string; file_name: string; contents: string }>;
  /** Per-plugin sandbox and export settings overriding the runtime's defaults. */
  settings?: PluginSettings;
  /** Capabilities the operator granted (`postgres`, `net:host[:port]`): a plugin requesting more does not start. */
  grants?: string[];
}

/** Per-plugin limits and export-buffer settings. */
export interface PluginSettings {
  memoryLimitMb?: number;
  timeoutMs?: number;
  /** Wall-clock cap of one crossing, ms (default: the runtime's `wallTimeoutMs`, 5000). */
  wallTimeoutMs?: number;
  /** Quotas overriding the runtime's defaults for this plugin (see the runtime README's "Limits"). */
  quotas?: Partial<PluginQuotas>;
  /** With the `wasm` grant: the sum of the maxima of the plugin's WebAssembly memories, MB (default 64). */
  wasmMemoryMb?: number;
  exportMaxEvents?: number;
  exportMaxBytes?: number;
  exportMaxAgeMs?: number;
  exportMaxAttempts?: number;
  /** How long a failing export batch (or onEvent RetryError) is retried, ms (see the runtime README). */
  exportRetryWindowMs?: number;
  /** First backoff of a failing export batch (or onEvent RetryError), ms; doubles each attempt up to `exportBackoffMaxMs`. */
  exportBackoffBaseMs?: number;
  exportBackoffMaxMs?: number;
  /** Re-drive this plugin's `ERR_EXPORT_RETRY_EXHAUSTED` dead letters once one of its exports succeeds again. */
  exportRedriveOnRecovery?: boolean;
}

/** `plugins.json`: the registry and the ordered chain. */
export interface ProjectFile {
  registry?: string;
  /** Egress without a `net:` grant: `public` (default) or `granted` (only granted hosts). */
  egress?: EgressMode;
  /** Project API keys the capture routes accept (PostHog's `api_key` / `token`); absent or empty: any key. */
  apiKeys?: string[];
  plugins: PluginEntry[];
}

/** `plugins.lock.json`: exact versions and integrity, so a restart installs the same bytes offline. */
export interface LockFile {
  lockfileVersion: 1;
  plugins: Record<string, { version: string; integrity: string; resolved: string }>;
}

/** Paths inside a runtime project directory. */
export function projectPaths(dir: string) {
  return {
    project: join(dir, 'plugins.json'),
    lock: join(dir, 'plugins.lock.json'),
    cache: join(dir, 'cache'),
    data: join(dir, 'data'),
  };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
}

// Mode 0600: plugins.json holds the plugins' secrets. The temp file is created with the mode (and
// chmod'ed, whatever the umask), so the renamed file never exists with wider rights.
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}

/**
 * Narrows `plugins.json` (it holds secrets) to mode 0600 when it is readable or writable by others, as
 * files written by older versions were; returns the mode it had when it was changed.
 */
export async function restrictProjectMode(dir: string): Promise<number | undefined> {
  const file = projectPaths(dir).project;
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if ((mode & 0o077) === 0) return undefined;
  await chmod(file, 0o600);
  return mode;
}

/** Reads `plugins.json` (an empty chain when it does not exist). */
export async function readProject(dir: string): Promise<ProjectFile> {
  const project = (await readJson<ProjectFile>(projectPaths(dir).project)) ?? { plugins: [] };
  project.plugins = (project.plugins ?? []).map((entry) => ({ ...entry, config: entry.config ?? {}, enabled: entry.enabled !== false, spec: entry.spec ?? 'latest' }));
  return project;
}

/** Writes `plugins.json` atomically, mode 0600 (it holds secrets). */
export async function writeProject(dir: string, project: ProjectFile): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeJsonAtomic(projectPaths(dir).project, project);
}

/** Reads `plugins.lock.json` (empty when it does not exist); a malformed lockfile is `ERR_LOCKFILE_INVALID`. */
export async function readLock(dir: string): Promise<LockFile> {
  let lock: LockFile | undefined;
  try {
    lock = await readJson<LockFile>(projectPaths(dir).lock);
  } catch (error) {
    throw new PluglineError('ERR_LOCKFILE_INVALID', `plugins.lock.json is not valid JSON: ${(error as Error).message}`);
  }
  if (!lock) return { lockfileVersion: 1, plugins: {} };
  if (lock.lockfileVersion !== 1 || typeof lock.plugins !== 'object' || lock.plugins === null) {
    throw new PluglineError('ERR_LOCKFILE_INVALID', 'plugins.lock.json must be { "lockfileVersion": 1, "plugins": { ... } }');
  }
  return lock;
}

/** Writes `plugins.lock.json` atomically. */
export async function writeLock(dir: string, lock: LockFile): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeJsonAtomic(projectPaths(dir).lock, lock);
}

/** Validates a config against an installed plugin's schema; throws `ERR_CONFIG_INVALID` (secrets never echoed). */
export function checkConfig(plugin: Pick<InstalledPlugin, 'name' | 'version' | 'manifest'>, config: unknown): Record<string, unknown> {
  const result = validateConfig(plugin.manifest.config, config);
  if (result.errors.length > 0) {
    throw new PluglineError('ERR_CONFIG_INVALID', `${plugin.name}@${plugin.version}: ${result.errors.join('; ')}`, { details: result.errors });
  }
  return result.value as Record<string, unknown>;
}

/**
 * Installs what `plugins.json` asks for: each plugin pinned in the lockfile comes from the cache
 * (offline, same bytes); the others are resolved against the registry and pinned. Returns the
 * installed plugins in chain order (disabled ones included).
 */
export async function installProject(
  dir: string,
  options: { registryUrl?: string } = {},
): Promise<{ entry: PluginEntry; installed: InstalledPlugin; failure?: PluglineError }[]> {
  const project = await readProject(dir);
  const lock = await readLock(dir);
  const paths = projectPaths(dir);
  const registryUrl = options.registryUrl ?? project.registry;
  const result: { entry: PluginEntry; installed: InstalledPlugin; failure?: PluglineError }[] = [];
  let lockChanged = false;
  for (const entry of project.plugins) {
    const pin = lock.plugins[entry.name];
    let installed: InstalledPlugin;
    if (pin) {
      try {
        installed = await loadPinned(paths.cache, entry.name, pin, registryUrl);
      } catch (error) {
        // Cached code that is not what was verified fails that plugin only (the others still start).
        const code = (error as PluglineError).code;
        if (code !== 'ERR_PLUGIN_INTEGRITY' && code !== 'ERR_TARBALL_INTEGRITY') throw error;
        result.push({ entry, installed: unavailablePlugin(entry, pin, error as PluglineError), failure: error as PluglineError });
        continue;
      }
    } else {
      if (!registryUrl) throw new PluglineError('ERR_REGISTRY_UNREACHABLE', `no registry URL to install ${entry.name} from (set "registry" in plugins.json)`);
      installed = await installPlugin({ registryUrl, spec: `${entry.name}@${entry.spec}`, cacheDir: paths.cache });
      lock.plugins[entry.name] = { version: installed.version, integrity: installed.integrity, resolved: installed.resolved };
      lockChanged = true;
    }
    result.push({ entry, installed });
  }
  for (const name of Object.keys(lock.plugins)) {
    if (!project.plugins.some((entry) => entry.name === name)) {
      delete lock.plugins[name];
      lockChanged = true;
    }
  }
  if (lockChanged) await writeLock(dir, lock);
  return result;
}

/**
 * A pinned plugin: from the cache (offline), or, when the cache does not have it (a fresh machine with
 * a committed lockfile), downloaded at the pinned version and accepted only with the pinned integrity.
 */
async function loadPinned(cacheDir: string, name: string, pin: LockFile['plugins'][string], registryUrl: string | undefined): Promise<InstalledPlugin> {
  try {
    return await loadCachedPlugin(cacheDir, { name, ...pin });
  } catch (error) {
    if (!registryUrl || (error as PluglineError).code !== 'ERR_LOCKFILE_INVALID') throw error;
  }
  const installed = await installPlugin({ registryUrl, spec: `${name}@${pin.version}`, cacheDir });
  if (installed.integrity !== pin.integrity) {
    throw new PluglineError('ERR_TARBALL_INTEGRITY', `${name}@${pin.version}: the lockfile pins ${pin.integrity}, the registry serves ${installed.integrity}`);
  }
  return installed;
}

/** Options of {@link addPlugin}. */
export interface AddPluginOptions {
  name: string;
  /** Version spec (default `latest`). */
  spec?: string;
  config?: Record<string, unknown>;
  enabled?: boolean;
  /** Registry to install from (default: `registry` in plugins.json, which this sets when missing). */
  registryUrl?: string;
  /**
   * Capabilities granted (`postgres`, `net:host[:port]`), added to those the entry already has. Every
   * capability the plugin requests must be granted, else `ERR_CAPABILITY_DENIED` (nothing written).
   */
  grants?: string[];
}

/**
 * Adds a plugin at the end of the chain (or replaces the entry of the same name in place): installs it,
 * validates the config against its schema (nothing is written when that fails) and pins it in the lockfile.
 *
 * @example
 * ```ts
 * await addPlugin('.plugline/runtime', { name: 'geoip', spec: '^1.0.0', config: {}, registryUrl });
 * ```
 */
export async function addPlugin(
  dir: string,
  options: AddPluginOptions,
): Promise<{ name: string; version: string; integrity: string; config: Record<string, unknown>; requested: string[]; granted: string[]; deprecated?: string }> {
  const project = await readProject(dir);
  const registryUrl = options.registryUrl ?? project.registry;
  if (!registryUrl) throw new PluglineError('ERR_REGISTRY_UNREACHABLE', 'no registry URL: pass registryUrl or set "registry" in plugins.json');
  const spec = options.spec ?? 'latest';
  const installed = await installPlugin({ registryUrl, spec: `${options.name}@${spec}`, cacheDir: projectPaths(dir).cache });
  const config = options.config ?? {};
  checkConfig(installed, config);
  const index = project.plugins.findIndex((existing) => existing.name === installed.name);
  const grants = parseGrants([...(index >= 0 ? (project.plugins[index]!.grants ?? []) : []), ...(options.grants ?? [])], installed.name);
  const ungranted = ungrantedError(installed, grants);
  if (ungranted) throw ungranted;
  const entry: PluginEntry = { name: installed.name, spec, config, enabled: options.enabled ?? true, ...(grants.length > 0 ? { grants } : {}) };
  if (index >= 0) project.plugins[index] = { ...project.plugins[index], ...entry };
  else project.plugins.push(entry);
  project.registry ??= registryUrl;
  const lock = await readLock(dir);
  lock.plugins[installed.name] = { version: installed.version, integrity: installed.integrity, resolved: installed.resolved };
  await writeProject(dir, project);
  await writeLock(dir, lock);
  return {
    name: installed.name,
    version: installed.version,
    integrity: installed.integrity,
    config: redactConfig(installed.manifest.config, config),
    requested: requestedCapabilities(installed.manifest),
    granted: grants,
    ...(installed.deprecated ? { deprecated: installed.deprecated } : {}),
  };
}

/**
 * Replaces the capabilities granted to an installed plugin (`postgres`, `net:host[:port]`) in
 * plugins.json; `ERR_BAD_REQUEST` for a malformed one, `ERR_PLUGIN_NOT_INSTALLED`. A running runtime
 * applies them through `PUT /api/plugins/:name/grants` (or `Runtime.setPluginGrants`).
 */
export async function setPluginGrants(dir: string, name: string, grants: readonly string[]): Promise<string[]> {
  const project = await readProject(dir);
  const entry = project.plugins.find((existing) => existing.name === name);
  if (!entry) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed`);
  entry.grants = parseGrants(grants, name);
  await writeProject(dir, project);
  return entry.grants;
}

/** Removes a plugin from the chain and the lockfile; `ERR_PLUGIN_NOT_INSTALLED` if it is not there. */
export async function removePlugin(dir: string, name: string): Promise<void> {
  const project = await readProject(dir);
  if (!project.plugins.some((entry) => entry.name === name)) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed`);
  project.plugins = project.plugins.filter((entry) => entry.name !== name);
  const lock = await readLock(dir);
  delete lock.plugins[name];
  await writeProject(dir, project);
  await writeLock(dir, lock);
}

/**
 * Replaces a plugin's config after validating it against the installed version's schema (from the
 * cache, offline). A `writeOnly` key sent as the mask (`********`) keeps its stored value. Throws
 * `ERR_CONFIG_INVALID` (nothing written) or `ERR_PLUGIN_NOT_INSTALLED`. Returns the validated config
 * with defaults applied and secrets masked. A running runtime picks the file up on restart; use
 * `PUT /api/plugins/:name/config` (or `Runtime.setPluginConfig`) to hot-reload it.
 */
export async function setPluginConfig(dir: string, name: string, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  const project = await readProject(dir);
  const entry = project.plugins.find((existing) => existing.name === name);
  const pin = (await readLock(dir)).plugins[name];
  if (!entry || !pin) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed`);
  const installed = await loadCachedPlugin(projectPaths(dir).cache, { name, ...pin });
  // A client that read the config back (secrets masked) and sends it again keeps the stored secrets.
  // At every depth: nested objects, array items, $ref'd and anyOf/oneOf/if branches, header maps.
  const merged = restoreSecrets(installed.manifest.config, config, entry.config);
  const validated = checkConfig(installed, merged);
  entry.config = merged;
  await writeProject(dir, project);
  return redactConfig(installed.manifest.config, validated);
}

/** A plugin of the chain as {@link listPlugins} reports it (config redacted). */
export interface ListedPlugin {
  name: string;
  spec: string;
  version: string | null;
  integrity: string | null;
  enabled: boolean;
  config: Record<string, unknown>;
  /** Capabilities the pinned version requests (empty when it is not in the cache). */
  requested: string[];
  /** Capabilities the operator granted. */
  granted: string[];
}

/** The chain in order, with pinned versions and redacted configs. */
export async function listPlugins(dir: string): Promise<ListedPlugin[]> {
  const project = await readProject(dir);
  const lock = await readLock(dir);
  const cache = projectPaths(dir).cache;
  const listed: ListedPlugin[] = [];
  for (const entry of project.plugins) {
    const pin = lock.plugins[entry.name];
    let config = entry.config;
    let requested: string[] = [];
    if (pin) {
      const installed = await loadCachedPlugin(cache, { name: entry.name, ...pin }).catch(() => undefined);
      config = installed ? redactConfig(installed.manifest.config, entry.config) : maskAll(entry.config);
      requested = installed ? requestedCapabilities(installed.manifest) : [];
    } else config = maskAll(entry.config);
    listed.push({ name: entry.name, spec: entry.spec, version: pin?.version ?? null, integrity: pin?.integrity ?? null, enabled: entry.enabled, config, requested, granted: entry.grants ?? [] });
  }
  return listed;
}

// Without a schema we cannot tell secrets apart: show keys only.
function maskAll(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(config).map((key) => [key, '********']));
}
