import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, childEnv, helloManifest, makeTempDir, repoRoot, runCli, writePluginFolder } from './test-support/fixtures.js';

let root: string;
beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('e2e');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The one line every error prints, last on stderr (after any progress lines). */
const errorLine = (code: string) => new RegExp(`(?:^|\\n)error ${code}: [^\\n]+\\n$`);

describe('plugline init', () => {
  it('creates the project files (flow.test.ts runs its test, typecheck and build)', async () => {
    const created = await runCli(['init', '@acme/greeter', '--json'], { cwd: root, env: childEnv({ PLUGLINE_CONFIG: path.join(root, 'no-config.json') }) });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const { dir, files, linked } = JSON.parse(created.stdout) as { dir: string; files: string[]; linked: string[] };
    expect(dir).toBe(path.join(root, 'greeter'));
    expect(linked).toEqual([]);
    expect(files).toEqual(['.gitignore', '.npmrc', 'README.md', 'package.json', 'plugin.json', 'src/index.test.ts', 'src/index.ts', 'tsconfig.json']);
    const manifest = JSON.parse(await readFile(path.join(dir, 'plugin.json'), 'utf8')) as { name: string; config?: unknown };
    expect(manifest.name).toBe('@acme/greeter');
    // One source for the schema: src/index.ts; pack writes it into the packed plugin.json.
    expect(manifest.config).toBeUndefined();
    expect(await readFile(path.join(dir, 'src', 'index.ts'), 'utf8')).toContain('"dropEvents": {');
    // @plugline/* from the Plugline registry's npm endpoint (the default registry: none is logged in here).
    expect(await readFile(path.join(dir, '.npmrc'), 'utf8')).toMatch(/^@plugline:registry=http:\/\/localhost:7400\/npm\/$/m);
    const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string> };
    expect(pkg.scripts).toMatchObject({ build: 'plugline pack', test: 'vitest run' });
    expect(pkg.dependencies['@plugline/sdk']).toMatch(/^\^\d+\.\d+\.\d+$/);
  });

  it('refuses an invalid name and an existing folder', async () => {
    const badName = await runCli(['init', 'Not Valid'], { cwd: root });
    expect(badName.code).toBe(1);
    expect(badName.stderr).toMatch(errorLine('ERR_NAME_INVALID'));
    await runCli(['init', 'twice'], { cwd: root });
    const again = await runCli(['init', 'twice'], { cwd: root });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(errorLine('ERR_USAGE'));
  });
});

describe('plugline pack', () => {
  it('prints the integrity, and the same bytes come out of two packs', async () => {
    const dir = await writePluginFolder(path.join(root, 'pack-twice'));
    const first = await runCli(['pack', dir, '--json']);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/bundling src\/index\.ts -> dist\/index\.js/);
    const one = JSON.parse(first.stdout) as { integrity: string; path: string };
    const bytesOne = await readFile(one.path);
    const second = await runCli(['pack', '--json', '--quiet'], { cwd: dir });
    expect(second.stderr).toBe('');
    const two = JSON.parse(second.stdout) as { integrity: string; path: string };
    expect(two.integrity).toBe(one.integrity);
    expect(Buffer.compare(await readFile(two.path), bytesOne)).toBe(0);
  });

  it('fails with one coded line for an invalid manifest and for a forbidden import', async () => {
    const badManifest = await writePluginFolder(path.join(root, 'pack-bad'), { manifest: helloManifest({ version: 'x.y' }) });
    const invalid = await runCli(['pack', badManifest]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(errorLine('ERR_MANIFEST_INVALID'));
    expect(invalid.stderr).toContain('version: must match format "semver"');

    const forbidden = await writePluginFolder(path.join(root, 'pack-net'), {
      source: "import net from 'node:net';\nexport default { processEvent: (e) => { net.connect(80); return e; } };\n",
    });
    const rejected = await runCli(['pack', forbidden, '--quiet']);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(errorLine('ERR_PLUGIN_LOAD'));
    expect(rejected.stderr).toContain('src/index.ts:1:17: "node:net" is a Node built-in');
  });
});

describe('plugline dev', () => {
  it('runs the plugin over the built-in samples and over an events file with a config', async () => {
    const dir = await writePluginFolder(path.join(root, 'dev'));
    const samples = await runCli(['dev', '--json'], { cwd: dir });
    expect(samples.code).toBe(0);
    const ran = JSON.parse(samples.stdout) as { events: { properties: Record<string, unknown> }[]; errors: unknown[] };
    expect(ran.events).toHaveLength(3);
    expect(ran.events.every((event) => event.properties.hello === 'world')).toBe(true);

    await writeFile(path.join(root, 'events.json'), JSON.stringify([{ event: 'one', properties: { a: 1 } }]));
    await writeFile(path.join(root, 'config.json'), JSON.stringify({ value: 'there' }));
    const custom = await runCli(['dev', dir, '--events', path.join(root, 'events.json'), '--config', path.join(root, 'config.json')]);
    expect(custom.code).toBe(0);
    expect(custom.stdout).toMatch(/fixture-hello@1\.0\.0: 1 out, 0 dropped, 0 error\(s\)/);
    expect(custom.stdout).toContain('{"a":1,"hello":"there"}');

    // The official geoip plugin locates the sample event's 8.8.8.8 with the runtime's database.
    const geoip = await runCli(['dev', path.join(repoRoot, 'registry', 'geoip'), '--json', '--quiet']);
    expect(geoip.code).toBe(0);
    const located = JSON.parse(geoip.stdout) as { events: { ip?: string; properties: Record<string, unknown> }[] };
    expect(located.events.find((event) => event.ip === '8.8.8.8')?.properties.$geoip_country_code).toBe('US');

    // A PostHog-format plugin (no version, ESM imports with module.exports, crypto) runs in the runtime's sandbox.
    const posthog = await runCli(['dev', path.join(repoRoot, 'registry', 'posthog-compat', 'src', 'fixtures', 'esm-cjs-mix'), '--json', '--quiet']);
    expect(posthog.code).toBe(0);
    const mixed = JSON.parse(posthog.stdout) as { plugin: string; events: { properties: Record<string, unknown> }[]; errors: unknown[] };
    expect(mixed.plugin).toBe('esm-cjs-mix@0.0.0-dev');
    expect(mixed.errors).toEqual([]);
    expect(mixed.events).toHaveLength(3);
    expect(mixed.events.every((event) => event.properties.mix_label === 'mixed-modules' && typeof event.properties.mix_hash === 'string')).toBe(true);

    await writeFile(path.join(root, 'bad-config.json'), JSON.stringify({ nope: true }));
    const badConfig = await runCli(['dev', dir, '--config', path.join(root, 'bad-config.json')]);
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(errorLine('ERR_CONFIG_INVALID'));

    await writeFile(path.join(root, 'bad-events.json'), '{"events": 3}');
    const badEvents = await runCli(['dev', dir, '--events', path.join(root, 'bad-events.json')]);
    expect(badEvents.code).toBe(1);
    expect(badEvents.stderr).toMatch(errorLine('ERR_PAYLOAD_INVALID'));
  });
});

describe('usage', () => {
  it('exits 2 with one coded line for an unknown command, an unknown option and a missing argument', async () => {
    for (const args of [['frobnicate'], ['pack', '--frob'], ['init'], [], ['dist-tag'], ['config', 'x', '--set']]) {
      const ran = await runCli(args, { cwd: root });
      expect(ran.code, args.join(' ')).toBe(2);
      expect(ran.stderr.trimEnd().split('\n').at(-1)).toMatch(/^error ERR_USAGE: .+/);
    }
  });

  it('prints JSON errors with --json', async () => {
    const ran = await runCli(['pack', path.join(root, 'nowhere'), '--json']);
    expect(ran.code).toBe(1);
    expect(JSON.parse(ran.stdout)).toEqual({ error: { code: 'ERR_MANIFEST_MISSING', message: expect.stringContaining('no plugin.json') } });
  });

  it('has --help on every command, exiting 0', async () => {
    const helpCommand = await runCli(['help', 'pack']);
    expect(helpCommand.code).toBe(0);
    expect(helpCommand.stdout).toContain('Usage: plugline pack');
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Exit codes: 0 success, 1 error, 2 usage error');
    const commands = [...top.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((match) => match[1] ?? '').filter((name) => name !== 'help' && !name.startsWith('-'));
    expect(commands).toEqual(expect.arrayContaining(['init', 'pack', 'dev', 'login']));
    for (const command of [...commands, 'dist-tag ls', 'dist-tag add', 'dist-tag rm']) {
      const help = await runCli([...command.split(' '), '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain(`Usage: plugline ${command}`);
    }
  });

  it('login stores the token in a 0600 config file', async () => {
    const configFile = path.join(root, 'config', 'plugline.json');
    const env = childEnv({ PLUGLINE_CONFIG: configFile });
    const ran = await runCli(['login', '--registry', 'http://127.0.0.1:9/', '--token', 'secret-token', '--no-verify'], { env });
    expect(ran.code).toBe(0);
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toEqual({ registry: 'http://127.0.0.1:9', tokens: { 'http://127.0.0.1:9': 'secret-token' } });
    const unreachable = await runCli(['login', '--registry', 'http://127.0.0.1:9/', '--token', 'other'], { env });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(errorLine('ERR_REGISTRY_UNREACHABLE'));
    const bad = await runCli(['login', '--registry', 'not a url', '--token', 't'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(errorLine('ERR_USAGE'));
  });
});
