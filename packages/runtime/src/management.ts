import { PluglineError, SECRET_MASK, redactConfig, secretKeys } from '@plugline/sdk';
import { parseGrants, ungrantedError } from './capabilities.js';
import { type InstalledPlugin, installPlugin } from './install.js';
import { type PluginEntry, type ProjectFile, checkConfig, projectPaths, readLock, readProject, writeLock, writeProject } from './project.js';
import type { ChainMember, Runtime } from './runtime.js';

// The live management API: changes to a running chain (add, remove, enable/disable, reorder, upgrade or
// downgrade) applied without a restart. Every operation
// - runs alone (Runtime.exclusive): two requests never read and write the chain or the files at once;
// - checks everything (resolve and install from the registry, grants, config against the schema, the
//   sandbox and setupPlugin) before anything changes: a failure answers its coded error and leaves the
//   chain and the files as they were;
// - writes plugins.lock.json and plugins.json, each atomically (temp file + rename), then swaps the new
//   chain in (Runtime.swapChain): batches in flight finish on the chain they started with, new batches
//   use the new one, and a replaced plugin is torn down once its in-flight work is idle. No event is
//   dropped and none goes through the chain twice.

/** Body of `POST /api/plugins`. */
export interface AddPluginRequest {
  name: string;
  /** Version, range or dist-tag (default `latest`). */
  spec?: string;
  config?: Record<string, unknown>;
  /** Capabilities granted (`postgres`, `net:host[:port]`): every one the version requests must be. */
  grants?: string[];
  enabled?: boolean;
  /** Where in the chain (0 = first; default: the end). */
  position?: number;
}

/** Body of `PUT /api/plugins/:name/version`. */
export interface ChangeVersionRequest {
  /** The new version, range or dist-tag (default: the stored spec, re-resolved: an update within it). */
  spec?: string;
  /** A new config (default: the stored one, carried over); validated against the new version's schema. */
  config?: Record<string, unknown>;
  /** Capabilities granted in addition to the stored ones (a version that requests more needs them). */
  grants?: string[];
}

type Described = ReturnType<Runtime['describePlugins']>[number];

/** A plugin as `GET /api/plugins` describes it. */
function describe(runtime: Runtime, name: string): Described {
  return runtime.describePlugins().find((plugin) => plugin.name === name)!;
}

function member(runtime: Runtime, name: string): ChainMember {
  const found = runtime.chainMembers().find((candidate) => candidate.name === name);
  if (!found) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not in the chain`);
  return found;
}

function registryOf(runtime: Runtime, project: ProjectFile): string {
  const url = runtime.registryUrl ?? project.registry;
  if (!url) throw new PluglineError('ERR_REGISTRY_UNREACHABLE', 'no registry URL to install from (set "registry" in plugins.json)');
  return url;
}

/** The error a prepared plugin that did not start stands for (its last recorded error), chain unchanged. */
function startFailure(prepared: ChainMember): PluglineError {
  const last = prepared.errors.at(-1);
  return new PluglineError(last?.code ?? 'ERR_PLUGIN_LOAD', `${prepared.name}@${prepared.version} did not start, the chain is unchanged: ${last?.message ?? 'unknown error'}`, {
    details: { plugin: prepared.name, version: prepared.version, chain: 'unchanged' },
  });
}

/** Prepares a plugin and refuses (disposing it) when it should run but did not start. */
async function prepareRunning(runtime: Runtime, entry: PluginEntry, installed: InstalledPlugin): Promise<ChainMember> {
  const prepared = await runtime.prepareMember(entry, installed);
  if (entry.enabled && prepared.status !== 'running') throw startFailure(prepared);
  return prepared;
}

/** Writes the lockfile, then plugins.json (each atomic); a prepared plugin is disposed when either fails. */
async function persist(runtime: Runtime, project: ProjectFile, pin: { name: string; installed: InstalledPlugin } | { remove: string } | undefined, prepared?: ChainMember) {
  try {
    if (pin) {
      const lock = await readLock(runtime.dir);
      if ('remove' in pin) delete lock.plugins[pin.remove];
      else lock.plugins[pin.name] = { version: pin.installed.version, integrity: pin.installed.integrity, resolved: pin.installed.resolved };
      await writeLock(runtime.dir, lock);
    }
    await writeProject(runtime.dir, project);
  } catch (error) {
    if (prepared) runtime.swapChain(runtime.chainMembers(), [prepared]);
    throw error;
  }
}

/** The stored config with `********` (a secret read back masked) replaced by the stored secret. */
function keepSecrets(installed: InstalledPlugin, config: Record<string, unknown>, stored: Record<string, unknown>): Record<string, unknown> {
  const merged = { ...config };
  for (const key of secretKeys(installed.manifest.config)) if (merged[key] === SECRET_MASK && key in stored) merged[key] = stored[key];
  return merged;
}

function checkIndex(index: unknown, max: number, what: string): number {
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > max) {
    throw new PluglineError('ERR_BAD_REQUEST', `${what} must be an integer from 0 to ${max}`);
  }
  return index;
}

/**
 * Adds a plugin from the registry at `position` (default: the end): installs `name@spec`, checks the
 * grants and the config, starts its sandbox, then persists and swaps it in. `ERR_PLUGIN_EXISTS` when
 * it is already in the chain (change its version with {@link changePluginVersion}).
 */
export function addLivePlugin(runtime: Runtime, request: AddPluginRequest): Promise<Described & { deprecated?: string }> {
  return runtime.exclusive(async () => {
    const project = await readProject(runtime.dir);
    const chain = runtime.chainMembers();
    if (chain.some((candidate) => candidate.name === request.name) || project.plugins.some((entry) => entry.name === request.name)) {
      throw new PluglineError('ERR_PLUGIN_EXISTS', `${request.name} is already in the chain: change its version with PUT /api/plugins/${encodeURIComponent(request.name)}/version`);
    }
    const position = request.position === undefined ? chain.length : checkIndex(request.position, chain.length, 'position');
    const spec = request.spec ?? 'latest';
    const installed = await installPlugin({ registryUrl: registryOf(runtime, project), spec: `${request.name}@${spec}`, cacheDir: projectPaths(runtime.dir).cache });
    const grants = parseGrants(request.grants, installed.name);
    const ungranted = ungrantedError(installed, grants);
    if (ungranted) throw ungranted;
    const config = request.config ?? {};
    checkConfig(installed, config);
    const entry: PluginEntry = { name: installed.name, spec, config, enabled: request.enabled ?? true, ...(grants.length > 0 ? { grants } : {}) };
    const prepared = await prepareRunning(runtime, entry, installed);
    // In plugins.json: before the entry that is at `position` in the running chain (else at the end).
    const before = chain[position]?.name;
    const at = before === undefined ? -1 : project.plugins.findIndex((candidate) => candidate.name === before);
    project.plugins.splice(at < 0 ? project.plugins.length : at, 0, entry);
    project.registry ??= registryOf(runtime, project);
    await persist(runtime, project, { name: installed.name, installed }, prepared);
    runtime.swapChain([...chain.slice(0, position), prepared, ...chain.slice(position)]);
    runtime.logger.info({ plugin: installed.name, version: installed.version, position }, 'plugin added');
    return { ...describe(runtime, installed.name), ...(installed.deprecated ? { deprecated: installed.deprecated } : {}) };
  });
}

/** Removes a plugin from the chain, plugins.json and the lockfile; it is torn down once idle. */
export function removeLivePlugin(runtime: Runtime, name: string): Promise<{ name: string; version: string; removed: true }> {
  return runtime.exclusive(async () => {
    const removed = member(runtime, name);
    const project = await readProject(runtime.dir);
    project.plugins = project.plugins.filter((entry) => entry.name !== name);
    // plugins.json first: a crash before the lockfile is written leaves a pin the next start prunes.
    await writeProject(runtime.dir, project);
    const lock = await readLock(runtime.dir);
    delete lock.plugins[name];
    await writeLock(runtime.dir, lock);
    runtime.swapChain(
      runtime.chainMembers().filter((candidate) => candidate !== removed),
      [removed],
    );
    runtime.logger.info({ plugin: name, version: removed.version }, 'plugin removed');
    return { name, version: removed.version, removed: true };
  });
}

/** Enables (starting its sandbox; refused with the error when it does not start) or disables a plugin. */
export function setPluginEnabled(runtime: Runtime, name: string, enabled: boolean): Promise<Described> {
  return runtime.exclusive(async () => {
    const current = member(runtime, name);
    if (current.entry.enabled === enabled && (enabled ? current.status === 'running' : current.status === 'disabled')) return describe(runtime, name);
    const project = await readProject(runtime.dir);
    const stored = project.plugins.find((entry) => entry.name === name);
    const entry: PluginEntry = { ...(stored ?? current.entry), enabled };
    const prepared = await prepareRunning(runtime, entry, current.installed);
    if (stored) stored.enabled = enabled;
    else project.plugins.push(entry);
    await persist(runtime, project, undefined, prepared);
    runtime.swapChain(
      runtime.chainMembers().map((candidate) => (candidate === current ? prepared : candidate)),
      [current],
    );
    runtime.logger.info({ plugin: name, enabled }, enabled ? 'plugin enabled' : 'plugin disabled');
    return describe(runtime, name);
  });
}

/** Puts the chain in `order` (every plugin's name once); plugins.json follows. */
export function reorderChain(runtime: Runtime, order: readonly string[]): Promise<{ order: string[] }> {
  return runtime.exclusive(() => applyOrder(runtime, order));
}

/** Moves one plugin to `index` (0 = first) of the chain. */
export function movePlugin(runtime: Runtime, name: string, index: number): Promise<{ order: string[] }> {
  return runtime.exclusive(async () => {
    const names = runtime.chainMembers().map((candidate) => candidate.name);
    member(runtime, name);
    const to = checkIndex(index, names.length - 1, 'index');
    const order = names.filter((candidate) => candidate !== name);
    order.splice(to, 0, name);
    return applyOrder(runtime, order);
  });
}

async function applyOrder(runtime: Runtime, order: readonly string[]): Promise<{ order: string[] }> {
  const chain = runtime.chainMembers();
  const names = chain.map((candidate) => candidate.name);
  const unknown = order.filter((name) => !names.includes(name));
  const missing = names.filter((name) => !order.includes(name));
  if (unknown.length > 0 || missing.length > 0 || new Set(order).size !== order.length) {
    throw new PluglineError('ERR_BAD_REQUEST', `order must name every plugin of the chain once (${names.join(', ')})`, { details: { unknown, missing } });
  }
  const project = await readProject(runtime.dir);
  const rank = (name: string) => {
    const index = order.indexOf(name);
    return index < 0 ? order.length : index;
  };
  project.plugins = [...project.plugins].sort((a, b) => rank(a.name) - rank(b.name));
  await writeProject(runtime.dir, project);
  // Same instances in a new order: nothing to set up or tear down.
  runtime.swapChain(order.map((name) => chain.find((candidate) => candidate.name === name)!));
  runtime.logger.info({ order }, 'chain reordered');
  return { order: [...order] };
}

/**
 * Upgrades or downgrades a plugin to what `spec` resolves to (default: its stored spec, re-resolved),
 * keeping its config (or taking `config`), validated against the new version's schema. On any failure
 * (resolve, grants, config, the new sandbox or its setupPlugin) the old version keeps running and the
 * files are unchanged. `changed: false` when the spec resolves to the running bytes and nothing else changes.
 */
export function changePluginVersion(
  runtime: Runtime,
  name: string,
  request: ChangeVersionRequest = {},
): Promise<{ name: string; from: string; to: string; spec: string; changed: boolean; deprecated?: string; plugin: Described }> {
  return runtime.exclusive(async () => {
    const current = member(runtime, name);
    const project = await readProject(runtime.dir);
    const stored = project.plugins.find((entry) => entry.name === name) ?? current.entry;
    const spec = request.spec ?? stored.spec;
    const installed = await installPlugin({ registryUrl: registryOf(runtime, project), spec: `${name}@${spec}`, cacheDir: projectPaths(runtime.dir).cache });
    const grants = parseGrants([...(stored.grants ?? []), ...(request.grants ?? [])], name);
    const ungranted = ungrantedError(installed, grants);
    if (ungranted) throw ungranted;
    const config = request.config ? keepSecrets(installed, request.config, stored.config) : stored.config;
    try {
      checkConfig(installed, config);
    } catch (error) {
      const failure = error as PluglineError;
      throw new PluglineError(failure.code, `${failure.message} (${name}@${current.version} keeps running${request.config ? '' : '; pass a config that fits the new schema'})`, {
        ...(failure.details ? { details: failure.details } : {}),
      });
    }
    const sameGrants = JSON.stringify(grants) === JSON.stringify(stored.grants ?? []);
    const deprecated = installed.deprecated ? { deprecated: installed.deprecated } : {};
    // The running bytes, nothing else asked: no reload (a plugin in `error` is reloaded: that may repair it).
    if (installed.integrity === current.installed.integrity && current.status !== 'error' && spec === stored.spec && !request.config && sameGrants) {
      return { name, from: current.version, to: installed.version, spec, changed: false, ...deprecated, plugin: describe(runtime, name) };
    }
    const entry: PluginEntry = { ...stored, spec, config, ...(grants.length > 0 ? { grants } : {}) };
    const prepared = await prepareRunning(runtime, entry, installed);
    const index = project.plugins.findIndex((candidate) => candidate.name === name);
    if (index >= 0) project.plugins[index] = entry;
    else project.plugins.push(entry);
    await persist(runtime, project, { name, installed }, prepared);
    runtime.swapChain(
      runtime.chainMembers().map((candidate) => (candidate === current ? prepared : candidate)),
      [current],
    );
    runtime.logger.info({ plugin: name, from: current.version, to: installed.version, spec, config: redactConfig(installed.manifest.config, config) }, 'plugin version changed');
    return { name, from: current.version, to: installed.version, spec, changed: true, ...deprecated, plugin: describe(runtime, name) };
  });
}
