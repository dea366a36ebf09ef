import { type ConfigSchema, type JsonSchema, PluglineError, grantFlags } from '@plugline/sdk';
import { RegistryClient } from '@plugline/registry-client';
import type { Command } from 'commander';
import semver from 'semver';
import { resolveRegistry } from './config.js';
import { formatBytes, type Output, progress, result, table } from './output.js';

/**
 * Splits `name@spec` (scoped names allowed): `@acme/geoip@^1.0.0` -> `{ name: '@acme/geoip', spec: '^1.0.0' }`.
 * Without a spec, `spec` is `fallback`.
 */
export function parseNameSpec(input: string, fallback = 'latest'): { name: string; spec: string } {
  const at = input.indexOf('@', input.startsWith('@') ? 1 : 0);
  if (at <= 0) return { name: input, spec: fallback };
  const spec = input.slice(at + 1);
  return { name: input.slice(0, at), spec: spec === '' ? fallback : spec };
}

/** A registry client for a command's `--registry` (or the configured one); `needsToken` fails early without one. */
export async function clientFor(options: { registry?: string | undefined }, needsToken = false): Promise<RegistryClient> {
  const { url, token } = await resolveRegistry(options);
  if (needsToken && !token) {
    throw new PluglineError('ERR_UNAUTHORIZED', `no token for ${url}: run plugline login --registry ${url} --token TOKEN (or set PLUGLINE_TOKEN)`);
  }
  return new RegistryClient({ url, ...(token ? { token } : {}) });
}

/** Describes one config property's type for tables: `string`, `integer`, `"a" | "b"`, `string[]`. */
function describeType(schema: JsonSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type as string | undefined);
  if (type === 'array' && schema.items) return `${describeType(schema.items)}[]`;
  if (!type && (schema.anyOf || schema.oneOf)) return (schema.anyOf ?? schema.oneOf ?? []).map(describeType).join(' | ');
  return type ?? 'any';
}

/**
 * The rows of a config schema table: key, type, default, required, secret (`writeOnly`), description.
 *
 * @example
 * ```ts
 * configRows({ type: 'object', properties: { apiKey: { type: 'string', writeOnly: true } }, required: ['apiKey'] });
 * // [['apiKey', 'string', '', 'yes', 'secret', '']]
 * ```
 */
export function configRows(schema: ConfigSchema): string[][] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([key, property]) => [
    key,
    describeType(property),
    property.default === undefined ? '' : JSON.stringify(property.default),
    required.has(key) ? 'yes' : '',
    property.writeOnly === true ? 'secret' : '',
    property.description ?? property.title ?? '',
  ]);
}

/** Registers the commands that talk to a registry: publish, dist-tag, deprecate, search, info. */
export function registerRegistryCommands(program: Command, out: Output): void {
  program
    .command('publish')
    .description('pack the plugin in a folder and publish it to the registry (needs plugline login)')
    .argument('[dir]', 'the plugin folder', '.')
    .option('--registry <url>', 'the registry (default: the one you logged in to)')
    .option('--tag <tag>', 'publish under this dist-tag instead of latest (latest does not move, as with npm)')
    .option('--dry-run', 'pack and check everything, but do not upload: prints what would be published')
    .option('--entry <file>', 'the source entry')
    .option('--plugin-version <semver>', "the version of a PostHog-format plugin (default: package.json's version)")
    .action(async (dir: string, options: { registry?: string; tag?: string; entry?: string; dryRun?: boolean; pluginVersion?: string }) => {
      const client = await clientFor(options, options.dryRun !== true);
      const { packPlugin } = await import('./pack.js');
      const packed = await packPlugin(dir, {
        ...(options.entry ? { entry: options.entry } : {}),
        ...(options.pluginVersion ? { version: options.pluginVersion } : {}),
        onProgress: (message) => progress(out, message),
      });
      const { name, version } = packed.manifest;
      const tag = options.tag ?? 'latest';
      if (options.dryRun === true) {
        result(
          out,
          `dry run: would publish ${name}@${version} (${formatBytes(packed.tarball.byteLength)}) to ${client.url} under the dist-tag ${tag}\n  ${packed.files.join('\n  ')}\nintegrity: ${packed.integrity}`,
          { name, version, tag, registry: client.url, size: packed.tarball.byteLength, integrity: packed.integrity, files: packed.files, dryRun: true },
        );
        return;
      }
      progress(out, `publishing ${name}@${version} (${formatBytes(packed.tarball.byteLength)}) to ${client.url}`);
      const published = await client.publish(packed.tarball, { name, version, ...(options.tag ? { tag: options.tag } : {}) });
      const distTags = await client.getDistTags(name);
      const latest = distTags.latest === version ? '' : `\nlatest stays ${distTags.latest}`;
      result(out, `published ${name}@${version} to ${client.url} (dist-tag ${tag})\nintegrity: ${published.integrity}${latest}`, {
        ...published,
        tag,
        registry: client.url,
        distTags,
      });
    });

  const distTag = program.command('dist-tag').description('list, add or remove the dist-tags of a plugin (latest, beta, ...)');
  distTag
    .command('ls')
    .description('list the dist-tags of a plugin')
    .argument('<name>', 'the plugin')
    .option('--registry <url>', 'the registry')
    .action(async (name: string, options: { registry?: string }) => {
      const tags = await (await clientFor(options)).getDistTags(name);
      result(out, Object.entries(tags).map(([tag, version]) => `${tag}: ${version}`).join('\n') || '(no dist-tags)', tags);
    });
  distTag
    .command('add')
    .description('point a dist-tag at a version')
    .argument('<name@version>', 'the plugin and exact version')
    .argument('<tag>', 'the tag, e.g. beta')
    .option('--registry <url>', 'the registry')
    .action(async (target: string, tag: string, options: { registry?: string }) => {
      const { name, spec } = parseNameSpec(target, '');
      if (!semver.valid(spec)) throw new PluglineError('ERR_USAGE', `dist-tag add needs name@version with an exact version, got "${target}"`);
      const tags = await (await clientFor(options, true)).setDistTag(name, tag, spec);
      result(out, `${tag}: ${name}@${spec}`, tags);
    });
  distTag
    .command('rm')
    .description('remove a dist-tag (not latest)')
    .argument('<name>', 'the plugin')
    .argument('<tag>', 'the tag')
    .option('--registry <url>', 'the registry')
    .action(async (name: string, tag: string, options: { registry?: string }) => {
      const tags = await (await clientFor(options, true)).deleteDistTag(name, tag);
      result(out, `removed ${tag} from ${name}`, tags);
    });

  program
    .command('deprecate')
    .description('deprecate the versions of a plugin matching a spec ("" as message un-deprecates)')
    .argument('<name@spec>', 'the plugin and a version, range or dist-tag')
    .argument('<message>', 'why, e.g. "use 2.x: 1.x drops events with an ip"')
    .option('--registry <url>', 'the registry')
    .action(async (target: string, message: string, options: { registry?: string }) => {
      const { name, spec } = parseNameSpec(target, '*');
      const client = await clientFor(options, true);
      const plugin = await client.getPlugin(name);
      const tagged = plugin.distTags[spec];
      const versions = tagged ? [tagged] : Object.keys(plugin.versions).filter((version) => semver.satisfies(version, spec, { includePrerelease: true }));
      if (versions.length === 0) throw new PluglineError('ERR_VERSION_NOT_FOUND', `no version of ${name} matches ${spec}`);
      for (const version of versions.sort(semver.compare)) await client.deprecate(name, version, message);
      result(out, `${message ? 'deprecated' : 'un-deprecated'} ${versions.map((version) => `${name}@${version}`).join(', ')}`, { name, versions, message });
    });

  program
    .command('search')
    .description('search the registry')
    .argument('[query...]', 'words to look for in names, descriptions and keywords')
    .option('--keyword <keyword...>', 'only plugins with these keywords')
    .option('--page <n>', 'result page (1-based)', (value) => Number.parseInt(value, 10))
    .option('--size <n>', 'results per page (1-100)', (value) => Number.parseInt(value, 10))
    .option('--registry <url>', 'the registry')
    .action(async (words: string[], options: { keyword?: string[]; page?: number; size?: number; registry?: string }) => {
      const found = await (await clientFor(options)).search({
        ...(words.length > 0 ? { q: words.join(' ') } : {}),
        ...(options.keyword ? { keywords: options.keyword } : {}),
        ...(options.page ? { page: options.page } : {}),
        ...(options.size ? { size: options.size } : {}),
      });
      const rows = found.results.map((hit) => [hit.name, hit.version, String(hit.downloads), hit.description ?? '']);
      result(out, found.results.length > 0 ? `${table(['name', 'version', 'downloads', 'description'], rows)}\n${found.total} result(s)` : 'no plugins found', found);
    });

  program
    .command('info')
    .description('show a plugin: versions, dist-tags and its config schema (secrets marked)')
    .argument('<name[@spec]>', 'the plugin, optionally with a version, range or dist-tag')
    .option('--registry <url>', 'the registry')
    .action(async (target: string, options: { registry?: string }) => {
      const { name, spec } = parseNameSpec(target);
      const client = await clientFor(options);
      const plugin = await client.getPlugin(name);
      const version = await client.resolve(name, spec);
      const tagsByVersion = new Map<string, string[]>();
      for (const [tag, tagged] of Object.entries(plugin.distTags)) tagsByVersion.set(tagged, [...(tagsByVersion.get(tagged) ?? []), tag]);
      const versionRows = Object.values(plugin.versions)
        .sort((a, b) => semver.rcompare(a.version, b.version))
        .map((entry) => [entry.version, (tagsByVersion.get(entry.version) ?? []).join(', '), entry.publishedAt.slice(0, 10), entry.deprecated ? `deprecated: ${entry.deprecated}` : '']);
      const config = configRows(version.config);
      const lines = [
        `${name}@${version.version}${version.manifest.description ? ` - ${version.manifest.description}` : ''}`,
        ...(version.deprecated ? [`DEPRECATED: ${version.deprecated}`] : []),
        `sdk: ${version.manifest.sdk}   integrity: ${version.integrity}`,
        // What the plugin requests: the operator grants it at install (plugline install --allow-*).
        version.manifest.capabilities?.length
          ? `requests: ${version.manifest.capabilities.join(', ')}   (grant with: plugline install ${name} ${grantFlags(version.manifest.capabilities)})`
          : 'requests: no capabilities (fetch to public addresses only)',
        ...(plugin.keywords.length > 0 ? [`keywords: ${plugin.keywords.join(', ')}`] : []),
        `maintainers: ${plugin.maintainers.join(', ') || '-'}   downloads: ${plugin.downloads.total}`,
        '',
        'dist-tags:',
        ...Object.entries(plugin.distTags).map(([tag, tagged]) => `  ${tag}: ${tagged}`),
        '',
        'versions:',
        table(['version', 'tags', 'published', ''], versionRows).replace(/^/gm, '  '),
        '',
        `config (${name}@${version.version}):`,
        config.length > 0 ? table(['key', 'type', 'default', 'required', 'secret', 'description'], config).replace(/^/gm, '  ') : '  (no config)',
      ];
      const { readme: _readme, ...versionWithoutReadme } = version;
      result(out, lines.join('\n'), { ...versionWithoutReadme, distTags: plugin.distTags, versions: Object.keys(plugin.versions), config: version.config });
    });
}
