import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPluglineError, PluglineError } from '@plugline/sdk';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry-client';
import { addPlugin, readProject, startRuntime, writeProject } from '@plugline/runtime';
import { type Logger, pino } from 'pino';
import { type NpmPublishOutcome, publishWorkspacePackages } from './npm-packages.js';
import pretty from 'pino-pretty';
import { packPlugin, readManifest } from './pack.js';

/** The plugins the quickstart's runtime chain starts with, in order (those that exist in the registry). */
export const defaultChain = ['geoip', 'labeler', 'hello-world', 'property-filter'] as const;

/** Configs the default chain is installed with, so the first event shows each plugin at work. */
export const defaultChainConfigs: Record<string, Record<string, unknown>> = {
  labeler: {
    rules: [{ label: 'us-visitor', event: '$pageview', conditions: [{ property: '$geoip_country_code', operator: 'eq', value: 'US' }] }],
  },
};

/** Options of {@link startQuickstart}. */
export interface QuickstartOptions {
  /** Registry port (default `$PLUGLINE_REGISTRY_PORT` or 7400; 0 picks a free one). */
  registryPort?: number;
  /** Runtime port (default `$PLUGLINE_RUNTIME_PORT` or 7401; 0 picks a free one). */
  runtimePort?: number;
  /** Where everything is kept (default `./.plugline`): `registry/`, `runtime/`, `tarballs/`, `admin-token`. */
  dataDir?: string;
  /** The official plugin folders, each `<pluginsDir>/<name>/plugin.json` (default: the monorepo's `registry/`). */
  pluginsDir?: string;
  /** The chain a fresh runtime gets (default {@link defaultChain}). */
  chain?: readonly string[];
  /**
   * Logs of the registry, runtime and quickstart (default: pino at `$LOG_LEVEL` or `warn`, written for
   * people on stderr: one line each, `HH:MM:ss WARN (service): message key=value`, never raw JSON).
   */
  logger?: Logger;
  /** Where the banner (URLs, curl) goes (default: stdout). */
  print?: (line: string) => void;
  /** Stop everything on SIGINT/SIGTERM (Ctrl-C) (default true). */
  handleSignals?: boolean;
  /**
   * Publish the SDK and the CLI (and what they need from this monorepo) to the registry's npm endpoint,
   * so `plugline init` projects install them with plain npm (default true; needs the packages built).
   */
  publishNpmPackages?: boolean;
}

/** A running quickstart. */
export interface RunningQuickstart {
  registryUrl: string;
  runtimeUrl: string;
  /** The marketplace page (the registry's web UI). */
  marketplaceUrl: string;
  /** The runtime console (sign in with the admin token). */
  consoleUrl: string;
  /** Where events are POSTed. */
  captureUrl: string;
  /** Where stored events are read back (a management route: needs {@link RunningQuickstart.adminToken}). */
  eventsUrl: string;
  /** The admin token of the registry and the runtime (also in `<dataDir>/admin-token`). */
  adminToken: string;
  /** One curl command that sends an event and shows it enriched. */
  curl: string;
  /** The registry's npm endpoint (`<registry>/npm/`), where plugin projects get `@plugline/*`. */
  npmRegistryUrl: string;
  /** What was published to the npm endpoint by this start, and what was there already. */
  npmPackages: NpmPublishOutcome;
  /** `name@version` of the plugins published by this start. */
  published: string[];
  /** `name@version` of the plugins that were already in the registry. */
  alreadyPublished: string[];
  /** Plugin folders that could not be packed or published, with the error line. */
  failed: { dir: string; error: string }[];
  /** The runtime's chain, in order. */
  chain: string[];
  /** Stops the runtime, then the registry. Safe to call twice. */
  close(): Promise<void>;
}

const repoRegistryDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'registry');

function portFrom(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port "${value}"`);
  return port;
}

/** The admin token kept under `dataDir` (created on first start, mode 0600), so a second start reuses the registry's data. */
async function adminTokenFor(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'admin-token');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return token;
}

/**
 * Publishes every official plugin folder (`<pluginsDir>/<name>/plugin.json`) whose version is not in
 * the registry yet: pack (reproducible) then publish. A folder that fails is reported, not fatal.
 */
export async function publishOfficialPlugins(
  client: RegistryClient,
  pluginsDir: string,
  options: { outDir: string; logger: Logger },
): Promise<Pick<RunningQuickstart, 'published' | 'alreadyPublished' | 'failed'>> {
  const outcome: Pick<RunningQuickstart, 'published' | 'alreadyPublished' | 'failed'> = { published: [], alreadyPublished: [], failed: [] };
  if (!existsSync(pluginsDir)) {
    options.logger.warn({ pluginsDir }, 'no official plugins folder; nothing to publish');
    return outcome;
  }
  const folders = (await readdir(pluginsDir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && existsSync(path.join(pluginsDir, entry.name, 'plugin.json')))
    .map((entry) => path.join(pluginsDir, entry.name))
    .sort();
  for (const dir of folders) {
    try {
      const manifest = await readManifest(dir);
      const id = `${manifest.name}@${manifest.version}`;
      const exists = await client.resolve(manifest.name, manifest.version).then(
        () => true,
        (error: unknown) => {
          if (isPluglineError(error) && (error.code === 'ERR_PLUGIN_NOT_FOUND' || error.code === 'ERR_VERSION_NOT_FOUND')) return false;
          throw error;
        },
      );
      if (exists) {
        outcome.alreadyPublished.push(id);
        continue;
      }
      // The plugin folders stay untouched: the bundle only goes into the tarball.
      const packed = await packPlugin(dir, { outDir: options.outDir, writeBundle: false });
      await client.publish(packed.tarball, { name: manifest.name, version: manifest.version });
      options.logger.info({ plugin: id, integrity: packed.integrity }, 'published official plugin');
      outcome.published.push(id);
    } catch (error) {
      const line = `${isPluglineError(error) ? error.code : 'ERR_INTERNAL'}: ${(error as Error).message}`;
      options.logger.warn({ dir, error: line }, 'could not publish official plugin');
      outcome.failed.push({ dir, error: line });
    }
  }
  return outcome;
}

/**
 * The one-command quickstart (what the root `npm start` runs): starts the registry (embedded store
 * under `<dataDir>/registry`, admin token generated once and kept in `<dataDir>/admin-token`),
 * publishes the official plugins that are absent, gives a fresh runtime folder (`<dataDir>/runtime`)
 * the default chain geoip -> labeler -> hello-world -> property-filter (those that exist), starts the
 * runtime and prints the marketplace URL, the capture URL and a curl command. A second start reuses
 * the data. Ctrl-C stops everything.
 *
 * @example
 * ```ts
 * const quickstart = await startQuickstart({ registryPort: 0, runtimePort: 0, dataDir: tmp });
 * await quickstart.close();
 * ```
 */
export async function startQuickstart(options: QuickstartOptions = {}): Promise<RunningQuickstart> {
  const registryPort = options.registryPort ?? portFrom(process.env.PLUGLINE_REGISTRY_PORT, 7400);
  const runtimePort = options.runtimePort ?? portFrom(process.env.PLUGLINE_RUNTIME_PORT, 7401);
  const dataDir = path.resolve(options.dataDir ?? '.plugline');
  const pluginsDir = path.resolve(options.pluginsDir ?? repoRegistryDir);
  const logger = options.logger ?? humanLogger();
  const print = options.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  await mkdir(dataDir, { recursive: true });
  const adminToken = await adminTokenFor(dataDir);

  const registry: RunningRegistry = await startRegistry({
    port: registryPort,
    dataDir: path.join(dataDir, 'registry'),
    adminToken,
    logger: logger.child({ service: 'registry' }),
  }).catch((error: unknown) => {
    throw portInUse(error, registryPort, 'PLUGLINE_REGISTRY_PORT');
  });
  let runtime: { url: string; close(): Promise<void> } | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await runtime?.close();
      await registry.close();
    })();
    return closing;
  };
  try {
    const client = new RegistryClient({ url: registry.url, token: adminToken });
    const outcome = await publishOfficialPlugins(client, pluginsDir, { outDir: path.join(dataDir, 'tarballs'), logger });
    const npmPackages: NpmPublishOutcome =
      options.publishNpmPackages === false
        ? { published: [], alreadyPublished: [], failed: [] }
        : await publishWorkspacePackages(client, { repoRoot: path.dirname(repoRegistryDir), outDir: path.join(dataDir, 'npm-tarballs'), logger });

    const runtimeDir = path.join(dataDir, 'runtime');
    const project = await readProject(runtimeDir);
    if (project.plugins.length === 0) {
      for (const name of options.chain ?? defaultChain) {
        const exists = await client.getPlugin(name).then(() => true, () => false);
        if (!exists) {
          logger.warn({ plugin: name }, 'not in the registry; left out of the default chain');
          continue;
        }
        const config = defaultChainConfigs[name] ?? {};
        await addPlugin(runtimeDir, { name, spec: 'latest', config, registryUrl: registry.url }).catch(async (error: unknown) => {
          // A demo config that no longer fits the plugin's schema must not stop the quickstart.
          if (!(isPluglineError(error) && error.code === 'ERR_CONFIG_INVALID') || Object.keys(config).length === 0) throw error;
          logger.warn({ plugin: name, error: (error as Error).message }, 'demo config rejected; installing with defaults');
          await addPlugin(runtimeDir, { name, spec: 'latest', config: {}, registryUrl: registry.url });
        });
      }
    } else if (project.registry !== registry.url) {
      // Same data, maybe another port: point the runtime at the registry that is running now.
      await writeProject(runtimeDir, { ...project, registry: registry.url });
    }
    const chain = (await readProject(runtimeDir)).plugins.filter((entry) => entry.enabled).map((entry) => entry.name);
    // One admin token for both: the registry's (.plugline/admin-token) guards the runtime's management routes too.
    const started = await startRuntime({ dir: runtimeDir, port: runtimePort, registryUrl: registry.url, adminToken, logger: logger.child({ service: 'runtime' }) }).catch(
      (error: unknown) => {
        throw portInUse(error, runtimePort, 'PLUGLINE_RUNTIME_PORT');
      },
    );
    runtime = started;

    const registryUrl = registry.url.replace('127.0.0.1', 'localhost');
    const runtimeUrl = started.url.replace('127.0.0.1', 'localhost');
    const captureUrl = `${runtimeUrl}/capture`;
    const eventsUrl = `${runtimeUrl}/api/events`;
    const sample = JSON.stringify({ event: '$pageview', distinct_id: 'user-1', ip: '8.8.8.8', properties: { $current_url: 'https://example.com/' } });
    const tokenFile = path.join(dataDir, 'admin-token');
    // Capture is public; reading events back is a management call and needs the admin token.
    const curl = `curl -s -X POST ${captureUrl} -H 'content-type: application/json' -d '${sample}' && curl -s -H "Authorization: Bearer $(cat ${tokenFile})" ${eventsUrl}`;
    const running: RunningQuickstart = {
      registryUrl,
      runtimeUrl,
      marketplaceUrl: `${registryUrl}/`,
      consoleUrl: `${runtimeUrl}/console`,
      captureUrl,
      eventsUrl,
      adminToken,
      curl,
      npmRegistryUrl: `${registryUrl}/npm/`,
      npmPackages,
      ...outcome,
      chain,
      close,
    };
    print('Plugline is running.');
    print(`  marketplace:  ${running.marketplaceUrl}`);
    print(`  console:      ${running.consoleUrl}   (sign in with the admin token)`);
    print(`  registry API: ${registryUrl}/api/v1/search   (admin token in ${path.join(dataDir, 'admin-token')})`);
    print(`  capture:      ${captureUrl}   (public: no token)`);
    print(`  events:       ${eventsUrl}   (management: Authorization: Bearer <admin token>)`);
    print(`  admin token:  ${tokenFile} (mode 0600; the registry and the runtime's /api/* and /metrics)`);
    print(`  chain:        ${chain.join(' -> ') || '(empty)'}`);
    print(
      `  plugins:      ${outcome.published.length} published now, ${outcome.alreadyPublished.length} already there${outcome.failed.length > 0 ? `, ${outcome.failed.length} failed (see logs)` : ''}`,
    );
    const npmNames = [...npmPackages.published, ...npmPackages.alreadyPublished].map((id) => id.replace(/@[^@]+$/, ''));
    if (npmNames.length > 0) print(`  npm packages: ${npmNames.join(', ')} at ${registryUrl}/npm/ (what plugline init projects install)`);
    print('Send an event and read it back enriched:');
    print(`  ${curl}`);
    print('Press Ctrl-C to stop.');
    if (options.handleSignals !== false) stopOnSignals(close, print);
    return running;
  } catch (error) {
    await close();
    throw error;
  }
}

/** pino for a person at a terminal: readable single lines on stderr (synchronous, so they never cut into the banner). */
function humanLogger(): Logger {
  const stream = pretty({
    destination: 2,
    sync: true,
    singleLine: true,
    colorize: process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,name',
    messageFormat: '{if service}({service}) {end}{msg}',
    hideObject: false,
  });
  return pino({ name: 'plugline', level: process.env.LOG_LEVEL ?? 'warn' }, stream);
}

/** A clear error for a port someone else listens on; other errors pass through. */
function portInUse(error: unknown, port: number, variable: string): unknown {
  if ((error as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE') return error;
  return new PluglineError('ERR_INTERNAL', `port ${port} is already in use: stop what listens on it or set ${variable}`, { cause: error });
}

function stopOnSignals(close: () => Promise<void>, print: (line: string) => void): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C while stopping: give up waiting.
      process.exit(130);
    }
    stopping = true;
    print(`\n${signal}: stopping...`);
    close().then(
      () => {
        print('stopped.');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
      (error: unknown) => {
        print(`error while stopping: ${(error as Error).message}`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
