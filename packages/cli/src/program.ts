import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluglineError } from '@plugline/sdk';
import { RegistryClient } from '@plugline/registry-client';
import { Command, CommanderError } from 'commander';
import { configPath, normalizeRegistryUrl, readCliConfig, writeCliConfig } from './config.js';
import { describeError, exitCodeFor, exitCodes, formatBytes, formatError, type Output, progress, readConfigObject, result, safeJson, sanitizeText } from './output.js';
import { registerDeadLetterCommands } from './dead-letters-commands.js';
import { registerRegistryCommands } from './registry-commands.js';
import { registerRuntimeCommands } from './runtime-commands.js';
import { loadPeer } from './peers.js';
import { registerTokenCommands } from './token-commands.js';
import { registerUpdateCommands } from './update-commands.js';

const cliVersion = (
  JSON.parse(readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'package.json'), 'utf8')) as { version: string }
).version;

const exitCodeHelp = `
Exit codes: 0 success, 1 error, 2 usage error (unknown command or option, missing argument).
Errors print one line on stderr: "error ERR_CODE: message". Results go to stdout (JSON with --json),
progress to stderr.`;

// Command implementations (esbuild, tar, the SDK harness, the runtime) are imported when their command
// runs, so starting the CLI for one command does not load the others' modules.

/**
 * The `plugline` command line as a commander program writing to `out`. Global options (`--json`,
 * `--quiet`) update `out` before each command runs.
 */
export function createProgram(out: Output): Command {
  const program = new Command('plugline');
  program
    .description('Plugline: create, pack, publish and install plugins for event pipelines.')
    .version(cliVersion, '-v, --version', 'print the version')
    .option('--json', 'print results as JSON (for scripts)')
    .option('-q, --quiet', 'no progress output on stderr')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out.stdout.write(text),
      writeErr: (text) => out.stderr.write(text),
      // Usage errors are printed by run() as one coded line.
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', exitCodeHelp)
    .hook('preAction', () => {
      const options = program.opts<{ json?: boolean; quiet?: boolean }>();
      out.json = options.json === true;
      out.quiet = options.quiet === true;
    });

  program
    .command('init')
    .description('create a new plugin project (TypeScript, plugin.json, definePlugin source, harness test)')
    .argument('<name>', 'the plugin name (npm-style, @scope/ allowed)')
    .option('--dir <dir>', 'where to create it (default: ./<name>)')
    .option('--link', "link @plugline/sdk, @plugline/cli, vitest and typescript from this CLI's install instead of needing npm install")
    .option('--registry <url>', 'the Plugline registry to install @plugline/* from (.npmrc; default: the one you logged in to, else http://localhost:7400)')
    .action(async (name: string, options: { dir?: string; link?: boolean; registry?: string }) => {
      const { initPlugin } = await import('./init.js');
      const registry = options.registry ?? process.env.PLUGLINE_REGISTRY ?? (await readCliConfig(configPath())).registry;
      const created = await initPlugin({ name, ...(options.dir ? { dir: options.dir } : {}), link: options.link === true, ...(registry ? { registry: normalizeRegistryUrl(registry) } : {}) });
      const next = created.linked.length > 0 ? 'npm test && npm run build' : 'npm install && npm test && npm run build';
      result(out, `created ${name} in ${created.dir}\n  ${created.files.join('\n  ')}\nnext: cd ${path.relative(process.cwd(), created.dir) || '.'} && ${next}`, created);
    });

  program
    .command('pack')
    .description('validate plugin.json, bundle the plugin to one ESM file and write a reproducible tarball')
    .argument('[dir]', 'the plugin folder', '.')
    .option('--out-dir <dir>', 'where to write the .tgz (default: the plugin folder)')
    .option('--entry <file>', 'the source entry (default: src/index.ts, src/index.js, index.ts or index.js)')
    .option('--plugin-version <semver>', "the version of a PostHog-format plugin (default: package.json's version)")
    .action(async (dir: string, { pluginVersion, ...options }: { outDir?: string; entry?: string; pluginVersion?: string }) => {
      const { packPlugin } = await import('./pack.js');
      const packed = await packPlugin(dir, { ...options, ...(pluginVersion ? { version: pluginVersion } : {}), onProgress: (message) => progress(out, message) });
      const { manifest } = packed;
      result(
        out,
        `${manifest.name}@${manifest.version}\n  ${packed.files.join('\n  ')}\ntarball:   ${packed.path} (${formatBytes(packed.tarball.byteLength)})\nintegrity: ${packed.integrity}`,
        { name: manifest.name, version: manifest.version, path: packed.path, size: packed.tarball.byteLength, integrity: packed.integrity, files: packed.files },
      );
    });

  program
    .command('dev')
    .description('run the plugin in a folder over sample events with the SDK harness and print the result')
    .argument('[dir]', 'the plugin folder', '.')
    .option('--events <file>', 'a JSON file with an array of (partial) events (default: built-in samples)')
    .option('--config <file>', 'a JSON file with the plugin config')
    .option('--entry <file>', 'the source entry')
    .action(async (dir: string, options: { events?: string; config?: string; entry?: string }) => {
      const { readEventsFile, runDev } = await import('./dev.js');
      const events = options.events ? await readEventsFile(options.events) : undefined;
      const config = options.config ? await readConfigObject(options.config) : undefined;
      const ran = await runDev(dir, {
        ...(events ? { events } : {}),
        ...(config ? { config } : {}),
        ...(options.entry ? { entry: options.entry } : {}),
        onProgress: (message) => progress(out, message),
      });
      const lines = [
        `${ran.plugin}: ${ran.events.length} out, ${ran.dropped.length} dropped, ${ran.errors.length} error(s)`,
        ...ran.events.map((event) => `  ${event.event} ${event.uuid} ${JSON.stringify(event.properties)}`),
        ...ran.dropped.map((entry) => `  dropped ${entry.event} ${entry.uuid}`),
        ...ran.errors.map((error) => `  error ${error.code}: ${error.message}`),
        ...ran.logs.map((log) => `  log ${log.level}: ${log.message}`),
      ];
      result(out, lines.join('\n'), ran);
    });

  program
    .command('login')
    .description(`store a registry token in the config file (${configPath()}, mode 0600)`)
    .requiredOption('--registry <url>', 'the registry URL, e.g. http://localhost:7400')
    .requiredOption('--token <token>', 'the token (an admin or publish token from the registry)')
    .option('--no-verify', "store the token without asking the registry who it belongs to (offline)")
    .action(async (options: { registry: string; token: string; verify: boolean }) => {
      const url = normalizeRegistryUrl(options.registry);
      // A bad token is refused here, not at the first publish.
      const who = options.verify ? await new RegistryClient({ url, token: options.token }).whoami() : undefined;
      const file = configPath();
      const config = await readCliConfig(file);
      config.tokens[url] = options.token;
      config.registry = url;
      await writeCliConfig(config, file);
      result(out, `logged in to ${url}${who ? ` as ${who.user}${who.admin ? ' (admin)' : ''}` : ''} (token stored in ${file})`, {
        registry: url,
        config: file,
        ...(who ? { user: who.user, admin: who.admin, scopes: who.scopes } : {}),
      });
    });

  program
    .command('logout')
    .description('forget the token of a registry')
    .option('--registry <url>', 'the registry (default: the one you logged in to last)')
    .action(async (options: { registry?: string }) => {
      const file = configPath();
      const config = await readCliConfig(file);
      const raw = options.registry ?? config.registry;
      if (!raw) throw new PluglineError('ERR_USAGE', 'not logged in to any registry');
      const url = normalizeRegistryUrl(raw);
      delete config.tokens[url];
      await writeCliConfig(config, file);
      result(out, `logged out of ${url}`, { registry: url });
    });

  program
    .command('quickstart')
    .description('start a local registry with the official plugins and a runtime with the default chain (Ctrl-C stops)')
    .option('--registry-port <port>', 'registry port (default $PLUGLINE_REGISTRY_PORT or 7400)', (value) => Number.parseInt(value, 10))
    .option('--runtime-port <port>', 'runtime port (default $PLUGLINE_RUNTIME_PORT or 7401)', (value) => Number.parseInt(value, 10))
    .option('--data-dir <dir>', 'where the data lives', '.plugline')
    .option('--plugins-dir <dir>', 'the official plugin folders to publish (default: the monorepo registry/ folder)')
    .action(async (options: { registryPort?: number; runtimePort?: number; dataDir: string; pluginsDir?: string }) => {
      // Loaded on use: the registry server and the runtime are heavy and only this command needs them.
      const { startQuickstart } = await loadPeer('@plugline/registry @plugline/runtime', 'quickstart', () => import('./quickstart.js'));
      await startQuickstart({
        dataDir: options.dataDir,
        ...(options.registryPort !== undefined ? { registryPort: options.registryPort } : {}),
        ...(options.runtimePort !== undefined ? { runtimePort: options.runtimePort } : {}),
        ...(options.pluginsDir ? { pluginsDir: options.pluginsDir } : {}),
        print: (line) => void out.stdout.write(`${sanitizeText(line, { multiline: true })}\n`),
      });
    });

  registerRegistryCommands(program, out);
  registerRuntimeCommands(program, out);
  registerTokenCommands(program, out);
  registerDeadLetterCommands(program, out);
  registerUpdateCommands(program, out);
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, ...args) and resolves to the exit code.
 * Never throws: every error becomes one `error ERR_CODE: message` line on stderr.
 */
export async function run(argv: readonly string[], streams: Pick<Output, 'stdout' | 'stderr'> = process): Promise<number> {
  const out: Output = { json: argv.includes('--json'), quiet: false, stdout: streams.stdout, stderr: streams.stderr };
  const program = createProgram(out);
  try {
    await program.parseAsync([...argv]);
    return exitCodes.ok;
  } catch (caught) {
    let error = caught;
    if (caught instanceof CommanderError) {
      // --help, --version and `plugline help <command>` are successes.
      if (caught.code === 'commander.helpDisplayed' || caught.code === 'commander.version' || (caught.code === 'commander.help' && caught.exitCode === 0)) {
        return exitCodes.ok;
      }
      // `plugline` alone (or a command group alone) prints help and is a usage error.
      const message = caught.code === 'commander.help' ? 'a command is required (see the help above)' : caught.message.replace(/^error:\s*/, '');
      error = new PluglineError('ERR_USAGE', message);
    }
    out.stderr.write(`${formatError(error)}\n`);
    if (out.json) out.stdout.write(`${safeJson({ error: describeError(error) })}\n`);
    return exitCodeFor(error);
  }
}
