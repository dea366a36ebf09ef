import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RegistryClient } from '@plugline/registry-client';
import { isPluglineError } from '@plugline/sdk';
import type { Logger } from 'pino';

const run = promisify(execFile);

/**
 * The npm packages a plugin project installs: what `plugline init` puts in its package.json, with what
 * they depend on from this monorepo. None pulls in the runtime's native sandbox or the GeoIP data.
 */
export const pluginProjectPackages = ['@plugline/sdk', '@plugline/registry-client', '@plugline/cli'] as const;

/** What {@link publishWorkspacePackages} did, by `name@version`. */
export interface NpmPublishOutcome {
  published: string[];
  alreadyPublished: string[];
  failed: { name: string; error: string }[];
}

/**
 * Publishes this monorepo's `packages` (as `npm pack` builds them: the `files` of each package.json) to
 * the registry's npm endpoint when their version is not there yet, so `npm install` in a plugin project
 * finds `@plugline/*` where the public npm registry has none. Needs the packages built (`dist/`).
 */
export async function publishWorkspacePackages(
  client: RegistryClient,
  options: { repoRoot: string; outDir: string; logger: Logger; packages?: readonly string[] },
): Promise<NpmPublishOutcome> {
  const outcome: NpmPublishOutcome = { published: [], alreadyPublished: [], failed: [] };
  const wanted: { name: string; version: string }[] = [];
  for (const name of options.packages ?? pluginProjectPackages) {
    const manifestFile = await workspaceManifest(options.repoRoot, name);
    if (!manifestFile) {
      outcome.failed.push({ name, error: `ERR_NOT_FOUND: ${name} is not a package of ${options.repoRoot}` });
      continue;
    }
    const { version } = JSON.parse(await readFile(manifestFile, 'utf8')) as { version: string };
    if ((await client.npmVersions(name)).includes(version)) outcome.alreadyPublished.push(`${name}@${version}`);
    else wanted.push({ name, version });
  }
  if (wanted.length === 0) return outcome;
  await mkdir(options.outDir, { recursive: true });
  // One `npm pack` for all of them: it applies each package's `files` and writes the tarballs npm would publish.
  let packed: { name: string; version: string; filename: string }[];
  try {
    const args = ['pack', '--json', '--pack-destination', options.outDir, '--loglevel=error', ...wanted.flatMap(({ name }) => ['-w', name])];
    packed = JSON.parse((await run('npm', args, { cwd: options.repoRoot, maxBuffer: 64 * 1024 * 1024 })).stdout) as typeof packed;
  } catch (error) {
    const line = `ERR_INTERNAL: npm pack failed: ${(error as Error).message.split('\n')[0]}`;
    for (const { name } of wanted) outcome.failed.push({ name, error: line });
    return outcome;
  }
  for (const entry of packed) {
    const id = `${entry.name}@${entry.version}`;
    try {
      await client.publishNpmPackage(await readFile(path.join(options.outDir, entry.filename)), { name: entry.name, version: entry.version });
      options.logger.info({ npmPackage: id }, 'published npm package');
      outcome.published.push(id);
    } catch (error) {
      const line = `${isPluglineError(error) ? error.code : 'ERR_INTERNAL'}: ${(error as Error).message}`;
      options.logger.warn({ npmPackage: id, error: line }, 'could not publish npm package');
      outcome.failed.push({ name: entry.name, error: line });
    }
  }
  return outcome;
}

/** The package.json of workspace package `name` under `repoRoot` (packages/*, apps/*). */
async function workspaceManifest(repoRoot: string, name: string): Promise<string | undefined> {
  for (const folder of ['packages', 'apps']) {
    const candidate = path.join(repoRoot, folder, name.replace(/^@plugline\//, ''), 'package.json');
    if (existsSync(candidate) && (JSON.parse(await readFile(candidate, 'utf8')) as { name?: string }).name === name) return candidate;
  }
  return undefined;
}
