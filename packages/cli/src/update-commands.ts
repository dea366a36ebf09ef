import { RegistryClient } from '@plugline/registry-client';
import { isPluglineError, PluglineError } from '@plugline/sdk';
import type { Command } from 'commander';
import { resolveRegistry } from './config.js';
import { describeError, type Output, progress, result, table } from './output.js';
import { loadPeer } from './peers.js';
import { runtimeOption, tokenOption } from './runtime-commands.js';
import { appliedLine, findLiveRuntime, type LiveOptions, type LiveRuntime, type LivePlugin, livePlugins, pluginRoute, request, runtimeDirFor } from './runtime-live.js';

// `plugline outdated` and `plugline update`, after npm's: for each plugin of a runtime's chain the
// version it runs (current), the highest its spec allows (wanted) and the registry's `latest`; update
// moves a plugin within its spec (or to `--tag`), keeping its config, live when the runtime runs.

const runtime = () => loadPeer('@plugline/runtime', 'install', () => import('@plugline/runtime/install'));

const dirOption = ['--dir <dir>', 'the runtime folder (default $PLUGLINE_RUNTIME_DIR or .plugline/runtime)'] as const;

/** A plugin of the chain: name, spec and the version it runs (live) or is pinned at (files). */
interface ChainItem {
  name: string;
  spec: string;
  current: string | null;
}

async function chainItems(dir: string, live: LiveRuntime | undefined): Promise<ChainItem[]> {
  if (live) return (await livePlugins(live)).map((plugin) => ({ name: plugin.name, spec: plugin.spec, current: plugin.version }));
  const { readLock, readProject } = await runtime();
  const [project, lock] = await Promise.all([readProject(dir), readLock(dir)]);
  return project.plugins.map((entry) => ({ name: entry.name, spec: entry.spec, current: lock.plugins[entry.name]?.version ?? null }));
}

/** The registry to ask: `--registry`, else plugins.json's, else the CLI's default (with its token). */
async function registryFor(dir: string, options: { registry?: string }): Promise<{ url: string; token: string | undefined }> {
  const project = await (await runtime()).readProject(dir);
  const registry = options.registry ?? project.registry;
  return resolveRegistry(registry ? { registry } : {});
}

/** A row of `plugline outdated`. */
export interface OutdatedRow {
  name: string;
  spec: string;
  current: string | null;
  /** The highest version the spec allows (what `update` moves to); null when none matches. */
  wanted: string | null;
  /** The `latest` dist-tag. */
  latest: string | null;
}

/** Registers `outdated` and `update`. */
export function registerUpdateCommands(program: Command, out: Output): void {
  program
    .command('outdated')
    .description("the chain's plugins that have newer versions: current, wanted (the highest the spec allows) and latest, like npm outdated")
    .option(...dirOption)
    .option('--registry <url>', 'the registry (default: plugins.json, then the one you logged in to)')
    .option('--all', 'list every plugin, also those that are up to date')
    .option(...runtimeOption)
    .option(...tokenOption)
    .action(async (options: { dir?: string; registry?: string; all?: boolean } & LiveOptions) => {
      const dir = runtimeDirFor(options);
      const live = await findLiveRuntime(dir, options);
      const items = await chainItems(dir, live);
      const client = new RegistryClient(await registryFor(dir, options));
      const rows: OutdatedRow[] = [];
      for (const item of items) {
        const [wanted, tags] = await Promise.all([
          client.resolve(item.name, item.spec).then(
            (doc) => doc.version,
            (error: unknown) => {
              if ((error as PluglineError).code === 'ERR_VERSION_NOT_FOUND') return null;
              throw error;
            },
          ),
          client.getDistTags(item.name),
        ]);
        rows.push({ name: item.name, spec: item.spec, current: item.current, wanted, latest: tags.latest ?? null });
      }
      const outdated = rows.filter((row) => row.current !== row.wanted || row.current !== row.latest);
      const shown = options.all ? rows : outdated;
      const where = live ? `the running runtime at ${live.url}` : dir;
      const text =
        shown.length === 0
          ? `${rows.length === 0 ? 'no plugins' : `all ${rows.length} plugin(s) up to date`} in ${where}`
          : `${table(
              ['name', 'current', 'wanted', 'latest', 'spec'],
              shown.map((row) => [row.name, row.current ?? '-', row.wanted ?? '(none)', row.latest ?? '-', row.spec]),
            )}\n(${where}; plugline update moves each to wanted, plugline update <name> --tag latest to latest)`;
      result(out, text, Object.fromEntries(shown.map(({ name, ...row }) => [name, row])));
    });

  program
    .command('update')
    .description('move plugins to the highest version their spec allows (or to --tag), keeping their config; live when the runtime runs')
    .argument('[name]', 'one plugin (default: every plugin of the chain)')
    .option('--tag <tag>', 'move to this dist-tag instead (stored as the new spec), e.g. beta or latest')
    .option(...dirOption)
    .option('--registry <url>', 'the registry (default: plugins.json, then the one you logged in to)')
    .option(...runtimeOption)
    .option(...tokenOption)
    .action(async (name: string | undefined, options: { tag?: string; dir?: string; registry?: string } & LiveOptions) => {
      if (options.tag !== undefined && !name) throw new PluglineError('ERR_USAGE', 'update --tag needs a plugin name');
      const dir = runtimeDirFor(options);
      const live = await findLiveRuntime(dir, options);
      const items = await chainItems(dir, live);
      const targets = name ? items.filter((item) => item.name === name) : items;
      if (name && targets.length === 0) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not installed in ${live ? `the running runtime at ${live.url}` : dir}`);
      const updates: { name: string; from: string | null; to: string; spec: string; changed: boolean }[] = [];
      const failures: { name: string; error: unknown }[] = [];
      const updateOne = async (item: ChainItem) => {
        const spec = options.tag ?? item.spec;
        progress(out, `updating ${item.name}@${spec}${live ? ` in the running runtime at ${live.url}` : ''}`);
        if (live) {
          const answer = await request<{ from: string; to: string; changed: boolean; deprecated?: string; plugin: LivePlugin }>(
            live,
            'PUT',
            `${pluginRoute(item.name)}/version`,
            options.tag ? { spec } : {},
          );
          if (answer.deprecated) out.stderr.write(`warning: ${item.name}@${answer.to} is deprecated: ${answer.deprecated}\n`);
          updates.push({ name: item.name, from: answer.from, to: answer.to, spec, changed: answer.changed });
          return;
        }
        const { addPlugin, readProject } = await runtime();
        const entry = (await readProject(dir)).plugins.find((candidate) => candidate.name === item.name)!;
        const registryUrl = (await registryFor(dir, options)).url;
        const installed = await addPlugin(dir, { name: item.name, spec, config: entry.config, enabled: entry.enabled, registryUrl });
        if (installed.deprecated) out.stderr.write(`warning: ${installed.name}@${installed.version} is deprecated: ${installed.deprecated}\n`);
        updates.push({ name: item.name, from: item.current, to: installed.version, spec, changed: installed.version !== item.current || spec !== item.spec });
      };
      for (const item of targets) {
        // One plugin: its error is the command's. Every plugin: the others are still updated.
        if (name) await updateOne(item);
        else await updateOne(item).catch((error: unknown) => failures.push({ name: item.name, error }));
      }
      const lines = updates.map((update) => (update.from === update.to ? `${update.name}: ${update.to} (up to date with ${update.spec})` : `${update.name}: ${update.from ?? '-'} -> ${update.to}`));
      for (const failure of failures) lines.push(`${failure.name}: not updated (${describeError(failure.error).code})`);
      const changed = updates.some((update) => update.changed);
      if (updates.length === 0 && failures.length === 0) lines.push(`no plugins in ${live ? `the running runtime at ${live.url}` : dir}`);
      else if (changed) lines.push(appliedLine(live));
      result(out, lines.join('\n'), {
        updates,
        ...(failures.length > 0 ? { failed: failures.map((failure) => ({ name: failure.name, error: describeError(failure.error) })) } : {}),
        dir,
        applied: changed ? (live ? 'runtime' : 'files') : 'nothing',
        ...(live ? { runtime: live.url } : {}),
      });
      if (failures.length > 0) {
        const first = failures[0]!.error;
        throw isPluglineError(first) ? new PluglineError(first.code, `${failures.length} plugin(s) not updated; ${failures[0]!.name}: ${describeError(first).message}`) : first;
      }
    });
}
