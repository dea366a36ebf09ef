import path from 'node:path';
import { PluglineError, parseCapability } from '@plugline/sdk';
import type { Command } from 'commander';
import { resolveRegistry } from './config.js';
import { type Output, progress, readConfigObject, result, table } from './output.js';
import { parseNameSpec } from './registry-commands.js';
import { loadPeer } from './peers.js';
import { runtimeRequest, runtimeToken, runtimeUrl } from './runtime-api.js';
import { appliedLine, findLiveRuntime, type LiveOptions, type LivePlugin, livePlugins, pluginRoute, request, runtimeDirFor } from './runtime-live.js';

/** The runtime folder commands edit by default: `$PLUGLINE_RUNTIME_DIR`, else the quickstart's `.plugline/runtime`. */
export function defaultRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PLUGLINE_RUNTIME_DIR ?? path.join('.plugline', 'runtime');
}

/**
 * Applies `--set key=value` and `--unset key` to a config. A value that parses as JSON is used as
 * such (`n=3` is a number, `on=true` a boolean, `list=["a"]` an array, `s="007"` a string); anything
 * else is a plain string (`greeting=hi`).
 */
export function applyConfigChanges(config: Record<string, unknown>, sets: readonly string[], unsets: readonly string[] = []): Record<string, unknown> {
  const next: Record<string, unknown> = { ...config };
  for (const assignment of sets) {
    const equals = assignment.indexOf('=');
    if (equals <= 0) throw new PluglineError('ERR_USAGE', `--set needs key=value, got "${assignment}"`);
    const key = assignment.slice(0, equals);
    const raw = assignment.slice(equals + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // Not JSON: a plain string.
    }
    next[key] = value;
  }
  for (const key of unsets) delete next[key];
  return next;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * The capability grants of `--allow-net <host[:port]>` (repeatable) and `--allow-postgres`, as
 * `plugins.json` stores them (`net:api.hubapi.com`, `postgres`); `ERR_USAGE` for a malformed host.
 */
export function grantsFromFlags(options: { allowNet?: readonly string[]; allowPostgres?: boolean; allowWasm?: boolean }): string[] {
  const grants = (options.allowNet ?? []).map((host) => {
    const grant = `net:${host.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '')}`;
    if (!parseCapability(grant)) throw new PluglineError('ERR_USAGE', `--allow-net needs host[:port] (a name, *.suffix, an IPv4 address or [IPv6]), got "${host}"`);
    return grant;
  });
  return [...grants, ...(options.allowPostgres ? ['postgres'] : []), ...(options.allowWasm ? ['wasm'] : [])];
}

// Loaded on use, and only the install entry point: the full runtime brings isolated-vm, Express and
// prom-client, which editing a chain never needs.
// @plugline/runtime is an optional peer of the CLI (the bundled binary carries this entry point itself).
const runtime = () => loadPeer('@plugline/runtime', 'install', () => import('@plugline/runtime/install'));

const dirOption = ['--dir <dir>', 'the runtime folder (plugins.json, plugins.lock.json; default $PLUGLINE_RUNTIME_DIR or .plugline/runtime)'] as const;

/** `--runtime` and `--token`: the running runtime to apply a change to (default: the folder's runtime.json). */
export const runtimeOption = ['--runtime <url>', "apply to the runtime at this URL (default: the folder's running runtime, found from its runtime.json)"] as const;
export const tokenOption = ['--token <token>', "the runtime's admin token (default $PLUGLINE_RUNTIME_ADMIN_TOKEN, else <dir>/admin-token or the quickstart's .plugline/admin-token)"] as const;

/** Registers the commands that edit a runtime's plugin list (install, uninstall, list, config) and `status`. */
export function registerRuntimeCommands(program: Command, out: Output): void {
  program
    .command('install')
    .description("install a plugin from the registry at the end of a runtime's chain (plugins.json + lockfile)")
    .argument('<name@spec>', 'the plugin and a version, range or dist-tag (default latest)')
    .option(...dirOption)
    .option('--config <file>', 'a JSON file with the plugin config (validated against its schema)')
    .option('--registry <url>', 'the registry (default: plugins.json, then the one you logged in to)')
    .option('--disabled', 'add it disabled')
    .option('--allow-net <host[:port]>', 'grant the net capability for a host (repeatable; *.suffix, an IP, [IPv6]; a private address only when named)', collect, [])
    .option('--allow-postgres', 'grant the postgres capability (meta.postgres.query)')
    .option('--allow-wasm', 'grant the wasm capability (WebAssembly in the plugin, memories bounded)')
    .option(...runtimeOption)
    .option(...tokenOption)
    .action(async (target: string, options: { dir?: string; config?: string; registry?: string; disabled?: boolean; allowNet: string[]; allowPostgres?: boolean; allowWasm?: boolean } & LiveOptions) => {
      const dir = runtimeDirFor(options);
      const { name, spec } = parseNameSpec(target);
      const given = options.config ? await readConfigObject(options.config) : undefined;
      const grants = grantsFromFlags(options);
      const live = await findLiveRuntime(dir, options);
      let installed: { name: string; version: string; integrity: string; config: Record<string, unknown>; requested: string[]; granted: string[]; deprecated?: string; from?: string };
      if (live) {
        progress(out, `installing ${name}@${spec} into the running runtime at ${live.url}`);
        const current = (await livePlugins(live)).find((plugin) => plugin.name === name);
        if (current) {
          // Already in the chain: a version change that keeps the config (unless --config gives one).
          const changed = await request<{ from: string; deprecated?: string; plugin: LivePlugin }>(live, 'PUT', `${pluginRoute(name)}/version`, { spec, grants, ...(given ? { config: given } : {}) });
          if (options.disabled && changed.plugin.enabled) changed.plugin = await request<LivePlugin>(live, 'POST', `${pluginRoute(name)}/disable`);
          installed = { ...changed.plugin, from: changed.from, ...(changed.deprecated ? { deprecated: changed.deprecated } : {}) };
        } else {
          installed = await request<LivePlugin>(live, 'POST', '/api/plugins', { name, spec, grants, config: given ?? {}, ...(options.disabled ? { enabled: false } : {}) });
        }
      } else {
        const { addPlugin, readProject } = await runtime();
        const project = await readProject(dir);
        const registryUrl = options.registry || !project.registry ? (await resolveRegistry(options)).url : project.registry;
        progress(out, `installing ${name}@${spec} from ${registryUrl} (download, verify integrity, unpack)`);
        // Installed already (an upgrade or downgrade): its config and enabled state carry over.
        const existing = project.plugins.find((entry) => entry.name === name);
        const from = existing ? (await (await runtime()).readLock(dir)).plugins[name]?.version : undefined;
        const enabled = options.disabled ? false : (existing?.enabled ?? true);
        installed = { ...(await addPlugin(dir, { name, spec, config: given ?? existing?.config ?? {}, registryUrl, grants, enabled })), ...(from ? { from } : {}) };
      }
      // npm's convention: a deprecated version installs, with a warning that says why.
      if (installed.deprecated) out.stderr.write(`warning: ${installed.name}@${installed.version} is deprecated: ${installed.deprecated}\n`);
      const was = installed.from && installed.from !== installed.version ? ` (was ${installed.from})` : '';
      result(
        out,
        `installed ${installed.name}@${installed.version}${was} in ${dir}\nintegrity: ${installed.integrity}\nrequests: ${installed.requested.join(', ') || '(nothing)'}\ngranted: ${installed.granted.join(', ') || '(nothing)'}\nconfig: ${JSON.stringify(installed.config)}\n${appliedLine(live)}`,
        { ...installed, dir, applied: live ? 'runtime' : 'files', ...(live ? { runtime: live.url } : {}) },
      );
    });

  program
    .command('uninstall')
    .description("remove a plugin from a runtime's chain and lockfile")
    .argument('<name>', 'the plugin')
    .option(...dirOption)
    .option(...runtimeOption)
    .option(...tokenOption)
    .action(async (name: string, options: { dir?: string } & LiveOptions) => {
      const dir = runtimeDirFor(options);
      const live = await findLiveRuntime(dir, options);
      if (live) await request(live, 'DELETE', pluginRoute(name));
      else await (await runtime()).removePlugin(dir, name);
      result(out, `uninstalled ${name} from ${dir}\n${appliedLine(live)}`, { name, dir, applied: live ? 'runtime' : 'files', ...(live ? { runtime: live.url } : {}) });
    });

  program
    .command('list')
    .description("list a runtime's chain in order: versions, enabled, granted capabilities, configs (secrets masked)")
    .option(...dirOption)
    .action(async (options: { dir?: string }) => {
      const dir = runtimeDirFor(options);
      const plugins = await (await runtime()).listPlugins(dir);
      const rows = plugins.map((plugin, index) => [
        String(index + 1),
        plugin.name,
        plugin.spec,
        plugin.version ?? '(not installed)',
        plugin.enabled ? 'yes' : 'no',
        plugin.granted.join(' ') || '-',
        JSON.stringify(plugin.config),
      ]);
      result(out, plugins.length > 0 ? table(['#', 'name', 'spec', 'version', 'enabled', 'granted', 'config'], rows) : `no plugins in ${dir}`, plugins);
    });

  program
    .command('status')
    .description("a running runtime's plugins: status, errors, configs (secrets masked), through its management API")
    .option(...runtimeOption)
    .option(...tokenOption)
    .option(...dirOption)
    .action(async (options: { runtime?: string; token?: string; dir?: string }) => {
      const base = runtimeUrl(options.runtime);
      const token = await runtimeToken({ token: options.token, dir: path.resolve(options.dir ?? defaultRuntimeDir()) });
      const { plugins } = await runtimeRequest<{ plugins: { name: string; version: string; status: string; errors: { total: number }; config: unknown }[] }>(base, token, 'GET', '/api/plugins');
      const rows = plugins.map((plugin) => [plugin.name, plugin.version, plugin.status, String(plugin.errors.total), JSON.stringify(plugin.config)]);
      result(out, plugins.length > 0 ? table(['name', 'version', 'status', 'errors', 'config'], rows) : `no plugins in the runtime at ${base}`, plugins);
    });

  program
    .command('config')
    .description("show or change an installed plugin's config (validated against its schema)")
    .argument('<name>', 'the plugin')
    .option('--set <key=value...>', 'set keys (values are JSON when they parse as JSON, else strings)')
    .option('--unset <key...>', 'remove keys (their defaults apply)')
    .option(...dirOption)
    .option(...runtimeOption)
    .option(...tokenOption)
    .action(async (name: string, options: { set?: string[]; unset?: string[]; dir?: string } & LiveOptions) => {
      const dir = runtimeDirFor(options);
      const live = await findLiveRuntime(dir, options);
      if (live) {
        // The running config (secrets masked: sent back as ******** they keep their stored values).
        const plugin = (await livePlugins(live)).find((candidate) => candidate.name === name);
        if (!plugin) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not in the chain of the runtime at ${live.url}`);
        if (!options.set && !options.unset) {
          progress(out, `the config of ${name}@${plugin.version} in the running runtime at ${live.url}`);
          result(out, JSON.stringify(plugin.config, null, 2), plugin.config);
          return;
        }
        const answer = await request<{ config: Record<string, unknown> }>(live, 'PUT', `${pluginRoute(name)}/config`, {
          config: applyConfigChanges(plugin.config, options.set ?? [], options.unset ?? []),
        });
        result(out, `${name} config: ${JSON.stringify(answer.config)}\n${appliedLine(live)}`, answer.config);
        return;
      }
      const { listPlugins, readProject, setPluginConfig } = await runtime();
      if (!options.set && !options.unset) {
        const plugin = (await listPlugins(dir)).find((candidate) => candidate.name === name);
        if (!plugin) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed in ${dir}`);
        result(out, JSON.stringify(plugin.config, null, 2), plugin.config);
        return;
      }
      const entry = (await readProject(dir)).plugins.find((candidate) => candidate.name === name);
      if (!entry) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed in ${dir}`);
      const config = await setPluginConfig(dir, name, applyConfigChanges(entry.config, options.set ?? [], options.unset ?? []));
      result(out, `${name} config: ${JSON.stringify(config)}\n${appliedLine(undefined)}`, config);
    });
}
