import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluglineError, pluginNamePattern, SDK_VERSION } from '@plugline/sdk';

/** Options of {@link initPlugin}. */
export interface InitOptions {
  /** The plugin's name (npm-style, scoped allowed). */
  name: string;
  /** Where to create the project (default: `./<name without scope>`). Must not exist or be empty. */
  dir?: string;
  /**
   * Link the dependencies to the copies this CLI runs with (`@plugline/sdk`, `@plugline/cli`,
   * `vitest`, `typescript`) instead of expecting an `npm install`: symlinks in the new project's
   * `node_modules`. For working on Plugline itself and offline use; the generated `package.json` is the
   * same either way.
   */
  link?: boolean;
  /**
   * The Plugline registry the project installs `@plugline/*` from (its npm endpoint, `<url>/npm/`,
   * written to the project's `.npmrc` for that scope only; everything else comes from npm's default
   * registry). Default `http://localhost:7400`, the quickstart's. Not written with `link`.
   */
  registry?: string;
}

/** What {@link initPlugin} created. */
export interface InitResult {
  dir: string;
  /** Files written, relative to `dir`, sorted. */
  files: string[];
  /** Packages linked into `node_modules` (with `link`). */
  linked: string[];
}

const cliRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliVersion = (JSON.parse(readFileSync(path.join(cliRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** Versions the generated project's dev dependencies get (the ones Plugline itself is tested with). */
const toolRanges = { vitest: '^5.1.1', typescript: '^7.0.2' } as const;

/**
 * Creates a new plugin project: `package.json` (`build` = `plugline pack`, `test` = vitest), a strict
 * `tsconfig.json`, `plugin.json` with a config schema, `src/index.ts` written with `definePlugin`, and
 * `src/index.test.ts` using the SDK harness (`runChain`). The project builds and passes its test as generated.
 *
 * @example
 * ```ts
 * const { dir } = await initPlugin({ name: 'my-plugin' });
 * ```
 */
export async function initPlugin(options: InitOptions): Promise<InitResult> {
  const { name } = options;
  if (name.length > 214 || !new RegExp(pluginNamePattern).test(name)) {
    throw new PluglineError('ERR_NAME_INVALID', `"${name}" is not a valid plugin name (lower case letters, digits, - . _ ~, optional @scope/)`);
  }
  const dir = path.resolve(options.dir ?? name.replace(/^@[^/]+\//, ''));
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    throw new PluglineError('ERR_USAGE', `${dir} already exists and is not empty; choose another name or --dir`);
  }
  const files = templates(name);
  if (!options.link) files['.npmrc'] = `# @plugline/* packages come from the Plugline registry's npm endpoint; everything else from npm.\n@plugline:registry=${(options.registry ?? 'http://localhost:7400').replace(/\/+$/, '')}/npm/\n`;
  for (const [file, content] of Object.entries(files)) {
    const target = path.join(dir, ...file.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content);
  }
  const linked = options.link ? await linkDependencies(dir) : [];
  return { dir, files: Object.keys(files).sort(), linked };
}

const description = 'Adds a greeting property to every event and drops the events you list.';

/** The project's README: about the plugin (what it does, its config, how to install it), then how to work on it. */
function readme(name: string, shortName: string): string {
  const rows = Object.entries(configSchema.properties).map(
    ([key, property]) => `| \`${key}\` | ${property.type === 'array' ? 'string[]' : property.type} | \`${JSON.stringify(property.default)}\` | ${property.description} |`,
  );
  return `# ${name}

${description}

## Install

\`\`\`sh
plugline install ${name}@^0.1.0 --config config.json
\`\`\`

## Config

| key | type | default | description |
| --- | --- | --- | --- |
${rows.join('\n')}

## Develop

\`\`\`sh
npm install         # @plugline/* from the registry in .npmrc, the rest from npm
npm test            # ${shortName}'s tests with the SDK harness (src/index.test.ts)
npm run typecheck   # the sandbox's globals only: no Node, no DOM
npm run dev         # plugline dev: run it over sample events
npm run build       # plugline pack: bundle + reproducible tarball
npx plugline publish
\`\`\`
`;
}

function templates(name: string): Record<string, string> {
  const sdkRange = `^${SDK_VERSION}`;
  const shortName = name.replace(/^@[^/]+\//, '');
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    'package.json': json({
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      description: `${shortName}: a Plugline plugin`,
      scripts: { build: 'plugline pack', test: 'vitest run', typecheck: 'tsc --noEmit', dev: 'plugline dev' },
      dependencies: { '@plugline/sdk': sdkRange },
      devDependencies: { '@plugline/cli': `^${cliVersion}`, typescript: toolRanges.typescript, vitest: toolRanges.vitest },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'es2022',
        lib: ['es2022'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        resolveJsonModule: true,
        skipLibCheck: true,
        noEmit: true,
        // The sandbox's globals (console, fetch, URL...), and nothing from Node or the DOM.
        types: ['@plugline/sdk/globals'],
      },
      include: ['src'],
    }),
    // No `config` here: the schema lives once, in src/index.ts, and `plugline pack` writes it into the
    // packed plugin.json.
    'plugin.json': json({
      name,
      version: '0.1.0',
      description,
      main: 'dist/index.js',
      sdk: sdkRange,
      keywords: ['transformation'],
    }),
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
    'README.md': readme(name, shortName),
    'src/index.ts': `import { definePlugin } from '@plugline/sdk';

/**
 * Adds a greeting to every event and drops the events named in \`dropEvents\`.
 * \`meta.config\` is typed from the schema below, the only copy of it: \`plugline pack\` writes it into
 * the packed plugin.json, and the registry, the marketplace and the runtime read it from there.
 */
export default definePlugin({
  config: ${indent(JSON.stringify(configSchema, null, 2), 2)},
  processEvent(event, { config }) {
    if (config.dropEvents.includes(event.event)) return null;
    event.properties[config.property] = config.greeting;
    return event;
  },
});
`,
    'src/index.test.ts': `import { validateManifest } from '@plugline/sdk';
import { createEvent, runChain } from '@plugline/sdk/testing';
import { describe, expect, it } from 'vitest';
import manifest from '../plugin.json' with { type: 'json' };
import plugin from './index.js';

describe('${name}', () => {
  it('has a valid plugin.json once pack adds the config schema from the code', () => {
    const { errors } = validateManifest({ ...manifest, config: plugin.config });
    expect(errors).toEqual([]);
  });

  it('adds the greeting with the default config', async () => {
    const { events, errors } = await runChain([plugin], [createEvent({ properties: { plan: 'pro' } })]);
    expect(errors).toEqual([]);
    expect(events[0]?.properties).toEqual({ plan: 'pro', greeting: 'hello' });
  });

  it('uses the configured property and greeting, and drops listed events', async () => {
    const config = { property: 'salute', greeting: 'hi', dropEvents: ['bot_ping'] };
    const { events, dropped } = await runChain(
      [{ plugin, config }],
      [createEvent({ event: 'bot_ping' }), createEvent({ event: 'signed_up' })],
    );
    expect(events.map((event) => [event.event, event.properties.salute])).toEqual([['signed_up', 'hi']]);
    expect(dropped.map((entry) => entry.event.event)).toEqual(['bot_ping']);
  });
});
`,
  };
}

const configSchema = {
  type: 'object',
  properties: {
    property: { type: 'string', default: 'greeting', description: 'Property that receives the greeting' },
    greeting: { type: 'string', default: 'hello', description: 'The greeting' },
    dropEvents: { type: 'array', items: { type: 'string' }, default: [], description: 'Event names to drop' },
  },
};

function indent(text: string, spaces: number): string {
  return text.replace(/\n/g, `\n${' '.repeat(spaces)}`);
}

/** The folder of an installed package, found from this CLI's location the way Node would find it. */
function packageDirFromCli(name: string): string | undefined {
  let current = cliRoot;
  while (true) {
    const candidate = path.join(current, 'node_modules', ...name.split('/'));
    if (existsSync(path.join(candidate, 'package.json'))) return realpathSync(candidate);
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

async function linkDependencies(dir: string): Promise<string[]> {
  const packages: Record<string, string | undefined> = {
    '@plugline/sdk': packageDirFromCli('@plugline/sdk'),
    '@plugline/cli': cliRoot,
    vitest: packageDirFromCli('vitest'),
    typescript: packageDirFromCli('typescript'),
  };
  const linked: string[] = [];
  const binDir = path.join(dir, 'node_modules', '.bin');
  await mkdir(binDir, { recursive: true });
  for (const [name, source] of Object.entries(packages)) {
    if (!source) throw new PluglineError('ERR_NOT_FOUND', `cannot link ${name}: it is not installed next to this CLI (drop --link and run npm install)`);
    const target = path.join(dir, 'node_modules', ...name.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await symlink(source, target, 'dir');
    const bin = (JSON.parse(readFileSync(path.join(source, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> }).bin;
    const bins = typeof bin === 'string' ? { [name.split('/').pop() ?? name]: bin } : (bin ?? {});
    for (const [command, file] of Object.entries(bins)) await symlink(path.join(source, file), path.join(binDir, command));
    linked.push(name);
  }
  return linked;
}
