import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ConfigSchema, type PluginManifest, PluglineError, type PostHogManifest, isPostHogManifest, validateManifest } from '@plugline/sdk';
import semver from 'semver';
import { bundlePlugin, findEntry } from './bundle.js';
import { checkHooks } from './check-hooks.js';
import { codeConfigSchema, loadPluginBundle } from './load-bundle.js';
import { convertForPack, isolateModulePrefix, postHogOriginalFile, postHogVersion } from './posthog.js';
import { createReproducibleTarball, integrityOf, type TarballFile, tarballFileName } from './tarball.js';

/** Options of {@link packPlugin}. */
export interface PackOptions {
  /** Where to write the `.tgz` (default: the plugin folder). */
  outDir?: string;
  /** The source entry, relative to the plugin folder (default: `src/index.ts`, `src/index.js`, `index.ts`, `index.js`). */
  entry?: string;
  /** Also write the bundle into the folder at the manifest's `main` (default true: pack is the plugin's build). */
  writeBundle?: boolean;
  /** Called with a short line before each long step (bundling, writing). */
  onProgress?: (message: string) => void;
  /** The version of a PostHog-format plugin (its `plugin.json` has none); default: package.json's `version`. */
  version?: string;
}

/** What {@link packPlugin} produced. */
export interface PackResult {
  /** The gzip tarball's bytes. */
  tarball: Uint8Array;
  /** Absolute path of the written `.tgz`. */
  path: string;
  /** `sha512-` + base64 of the tarball's SHA-512. */
  integrity: string;
  /** The validated manifest. */
  manifest: PluginManifest;
  /** Entries in the tarball, sorted, e.g. `['package/README.md', 'package/dist/index.js', 'package/plugin.json']`. */
  files: string[];
  /** The hooks the bundle defines, as the sandbox found them when it loaded it (sorted). */
  hooks: string[];
  /** esbuild's warnings that did not stop the bundle (also given to `onProgress`). */
  warnings: string[];
}

/**
 * Reads and validates a plugin folder's `plugin.json`. A `plugin.json` may leave `config` out: the
 * schema is then the one the code declares (`definePlugin({ config })`), one source for both, taken
 * from `options.codeConfig` (pack and dev bundle the code for it).
 *
 * @throws PluglineError ERR_MANIFEST_MISSING when there is none, ERR_MANIFEST_INVALID (with every
 *   `path: message` in the message and `details`) when it is not valid.
 */
export async function readManifest(dir: string, options: { codeConfig?: () => Promise<ConfigSchema> } = {}): Promise<PluginManifest> {
  const file = path.join(dir, 'plugin.json');
  if (!existsSync(file)) throw new PluglineError('ERR_MANIFEST_MISSING', `no plugin.json in ${dir}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new PluglineError('ERR_MANIFEST_INVALID', `plugin.json is not valid JSON: ${(error as Error).message}`);
  }
  if (options.codeConfig && parsed && typeof parsed === 'object' && !Array.isArray(parsed) && !('config' in parsed)) {
    parsed = { ...parsed, config: await options.codeConfig() };
  }
  const { value, errors } = validateManifest(parsed);
  if (!value) throw new PluglineError('ERR_MANIFEST_INVALID', `plugin.json is invalid: ${errors.join('; ')}`, { details: errors });
  return value;
}

/** The tarball's plugin.json: the folder's bytes, or, when it leaves `config` to the code, the manifest with that config. */
async function tarballManifest(root: string, manifest: PluginManifest): Promise<Buffer> {
  const source = await readFile(path.join(root, 'plugin.json'));
  const parsed: unknown = JSON.parse(source.toString('utf8'));
  const generated = typeof parsed === 'object' && parsed !== null && !('config' in parsed);
  return generated ? Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) : source;
}

/** The folder's `plugin.json` when it is in PostHog's format (the SDK's `isPostHogManifest`), else undefined. */
export async function readPostHogManifest(dir: string): Promise<PostHogManifest | undefined> {
  const file = path.join(dir, 'plugin.json');
  if (!existsSync(file)) return undefined;
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return isPostHogManifest(parsed) ? parsed : undefined;
  } catch {
    return undefined; // readManifest reports the bad JSON
  }
}

/**
 * Packs a plugin folder: validates `plugin.json`, bundles the source entry with esbuild into one
 * self-contained ESM file written at the manifest's `main`, and writes a reproducible gzip tarball
 * (`package/plugin.json`, `package/<main>`, `package/README.md` when present; nothing else) to
 * `<outDir>/<name>-<version>.tgz`. The same sources always give the same bytes and integrity.
 *
 * @example
 * ```ts
 * const { integrity, path } = await packPlugin('registry/hello-world');
 * ```
 */
export async function packPlugin(dir: string, options: PackOptions = {}): Promise<PackResult> {
  const root = path.resolve(dir);
  // A PostHog plugin.json is converted (the tarball's plugin.json is the Plugline manifest, the
  // original goes along as posthog.plugin.json) and its source is bundled with PostHog's import rules.
  const original = await readPostHogManifest(root);
  const postHogEntry = typeof original?.main === 'string' && existsSync(path.join(root, original.main)) ? original.main : undefined;
  let bundled: Awaited<ReturnType<typeof bundlePlugin>> | undefined;
  const bundle = async () => (bundled ??= await bundlePlugin(root, findEntry(root, options.entry ?? postHogEntry), { posthog: original !== undefined }));
  // A plugin.json without `config` takes the schema from the code: one source, written into the tarball.
  const codeConfig = async () => codeConfigSchema(await loadPluginBundle((await bundle()).code, 'the source entry'));
  const manifest = original ? convertForPack(original, postHogVersion(root, options.version)) : await readManifest(root, { codeConfig });
  const entryFile = findEntry(root, options.entry ?? postHogEntry);
  options.onProgress?.(`bundling ${path.relative(root, entryFile)} -> ${manifest.main}`);
  const { code, sdkVersion, isolateImports, warnings } = await bundle();
  for (const warning of warnings) options.onProgress?.(`warning: ${warning}`);
  options.onProgress?.('loading the bundle in the sandbox');
  const hooks = await checkHooks(code, `${manifest.name}@${manifest.version}`, { isolateImports, onProgress: options.onProgress });
  // A PostHog plugin importing `pg` uses the runtime's postgres host service: its manifest asks for the
  // capability (which the runtime's operator still has to grant).
  if (original && isolateImports.includes(`${isolateModulePrefix}pg`) && !manifest.capabilities?.includes('postgres')) {
    manifest.capabilities = [...(manifest.capabilities ?? []), 'postgres'];
  }
  // The runtime refuses a plugin whose sdk range excludes its own SDK; catch the same mistake here
  // against the SDK the bundle was actually built with.
  if (sdkVersion && !semver.satisfies(sdkVersion, manifest.sdk, { includePrerelease: true })) {
    throw new PluglineError(
      'ERR_SDK_INCOMPATIBLE',
      `plugin.json says sdk "${manifest.sdk}" but the bundle is built with @plugline/sdk ${sdkVersion}; widen the range or install a matching SDK`,
    );
  }
  const mainFile = path.join(root, ...manifest.main.split('/'));
  // The bundle also lands in the folder (pack is the plugin's build), unless the entry is that very file.
  if (options.writeBundle !== false && path.resolve(mainFile) !== entryFile) {
    await mkdir(path.dirname(mainFile), { recursive: true });
    await writeFile(mainFile, code);
  }
  const files: TarballFile[] = original
    ? [
        { path: 'plugin.json', content: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
        { path: postHogOriginalFile, content: await readFile(path.join(root, 'plugin.json')) },
        { path: manifest.main, content: code },
      ]
    : [
        { path: 'plugin.json', content: await tarballManifest(root, manifest) },
        { path: manifest.main, content: code },
      ];
  const readme = path.join(root, 'README.md');
  if (existsSync(readme)) files.push({ path: 'README.md', content: await readFile(readme) });
  options.onProgress?.(`writing tarball (${files.length} files)`);
  const tarball = await createReproducibleTarball(files);
  const outDir = path.resolve(options.outDir ?? root);
  await mkdir(outDir, { recursive: true });
  const tarballPath = path.join(outDir, tarballFileName(manifest.name, manifest.version));
  await writeFile(tarballPath, tarball);
  return {
    tarball,
    path: tarballPath,
    integrity: integrityOf(tarball),
    manifest,
    files: files.map((file) => `package/${file.path}`).sort(),
    hooks,
    warnings,
  };
}
