import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, childEnv, helloManifest, makeTempDir, runCli, writePluginFolder } from './test-support/fixtures.js';

const adminToken = 'test-admin-token';
let root: string;
let registry: RunningRegistry;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('registry');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry-data'), adminToken, logger: pino({ level: 'silent' }) });
  env = childEnv({ PLUGLINE_CONFIG: path.join(root, 'plugline-config.json') });
});
afterAll(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('registry commands against a real registry', () => {
  it('refuses to publish without a token and with a bad one', async () => {
    const dir = await writePluginFolder(path.join(root, 'unauthorized'));
    const noToken = await runCli(['publish', dir, '--registry', registry.url], { env });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^error ERR_UNAUTHORIZED: no token for http:\/\/127\.0\.0\.1:\d+: run plugline login/m);

    const badEnv = childEnv({ PLUGLINE_CONFIG: path.join(root, 'bad-config.json') });
    const badLogin = await runCli(['login', '--registry', registry.url, '--token', 'not-a-token'], { env: badEnv });
    expect(badLogin.code).toBe(1);
    expect(badLogin.stderr).toMatch(/^error ERR_UNAUTHORIZED: .+\n$/);
    expect(existsSync(path.join(root, 'bad-config.json'))).toBe(false);

    const rejected = await runCli(['publish', dir, '--quiet', '--registry', registry.url], { env: { ...badEnv, PLUGLINE_TOKEN: 'not-a-token' } });
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/^error ERR_UNAUTHORIZED: .+\n$/);
  });

  it('publishes, shows info with the config table, searches, tags and deprecates', async () => {
    const login = await runCli(['login', '--registry', registry.url, '--token', adminToken], { env });
    expect(login.code).toBe(0);
    expect(login.stdout).toContain(`logged in to ${registry.url} as `);
    const schema = {
      type: 'object',
      properties: {
        apiKey: { type: 'string', writeOnly: true, description: 'Key of the service' },
        mode: { enum: ['fast', 'full'], default: 'fast' },
        value: { type: 'string', default: 'world' },
      },
      required: ['apiKey'],
    };
    const v1 = await writePluginFolder(path.join(root, 'pub-1'), { manifest: helloManifest({ name: 'cli-pub', keywords: ['greeting'], config: schema }), readme: '# cli-pub\n' });
    const published = await runCli(['publish', v1, '--json'], { env });
    expect(published.stderr).toContain('publishing cli-pub@1.0.0');
    expect(published.code).toBe(0);
    const { integrity } = JSON.parse(published.stdout) as { integrity: string };
    expect(integrity).toMatch(/^sha512-/);
    const resolved = await new RegistryClient({ url: registry.url }).resolve('cli-pub', 'latest');
    expect(resolved).toMatchObject({ version: '1.0.0', integrity });

    const again = await runCli(['publish', v1, '--quiet'], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error ERR_VERSION_EXISTS: /);

    const v2 = await writePluginFolder(path.join(root, 'pub-2'), { manifest: helloManifest({ name: 'cli-pub', version: '2.0.0-beta.1', config: schema }) });
    expect((await runCli(['publish', v2, '--tag', 'beta', '--quiet'], { env })).code).toBe(0);

    const info = await runCli(['info', 'cli-pub'], { env });
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('cli-pub@1.0.0 - Fixture plugin');
    expect(info.stdout).toMatch(/beta: 2\.0\.0-beta\.1/);
    expect(info.stdout).toMatch(/apiKey\s+string\s+yes\s+secret\s+Key of the service/);
    expect(info.stdout).toMatch(/mode\s+"fast" \| "full"\s+"fast"/);
    const betaInfo = JSON.parse((await runCli(['info', 'cli-pub@beta', '--json'], { env })).stdout) as { version: string; distTags: Record<string, string> };
    expect(betaInfo).toMatchObject({ version: '2.0.0-beta.1', distTags: { latest: '1.0.0', beta: '2.0.0-beta.1' } });

    const search = await runCli(['search', 'cli-pub'], { env });
    expect(search.code).toBe(0);
    expect(search.stdout).toMatch(/^cli-pub\s+1\.0\.0\s+\d+\s+Fixture plugin$/m);

    expect((await runCli(['dist-tag', 'add', 'cli-pub@1.0.0', 'stable'], { env })).code).toBe(0);
    expect((await runCli(['dist-tag', 'rm', 'cli-pub', 'beta'], { env })).code).toBe(0);
    const tags = await runCli(['dist-tag', 'ls', 'cli-pub', '--json'], { env });
    expect(JSON.parse(tags.stdout)).toEqual({ latest: '1.0.0', stable: '1.0.0' });
    const badTag = await runCli(['dist-tag', 'add', 'cli-pub@^1', 'x'], { env });
    expect(badTag.code).toBe(2);

    const deprecated = await runCli(['deprecate', 'cli-pub@1.x', 'use 2.x'], { env });
    expect(deprecated.code).toBe(0);
    expect((await runCli(['info', 'cli-pub@1.0.0'], { env })).stdout).toContain('DEPRECATED: use 2.x');
  });

  it('publishes a PostHog-format plugin (no version in plugin.json) with --plugin-version', async () => {
    const dir = await writePluginFolder(path.join(root, 'posthog-pub'), {
      manifest: { name: 'PostHog Publish', main: 'index.js', config: [{ key: 'label', type: 'string', default: 'x' }] },
      extra: { 'index.js': 'export function processEvent(event, { config }) { event.properties.label = config.label; return event }\n' },
    });
    const withoutVersion = await runCli(['publish', dir, '--registry', registry.url], { env });
    expect(withoutVersion.code).toBe(1);
    expect(withoutVersion.stderr).toContain('--plugin-version');
    const published = await runCli(['publish', dir, '--plugin-version', '2.3.4', '--json', '--registry', registry.url], { env });
    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ name: 'posthog-publish', version: '2.3.4' });
    const info = JSON.parse((await runCli(['info', 'posthog-publish', '--json', '--registry', registry.url], { env })).stdout) as { version: string };
    expect(info.version).toBe('2.3.4');
  });

  it('answers ERR_PLUGIN_NOT_FOUND and ERR_REGISTRY_UNREACHABLE as one line', async () => {
    const missing = await runCli(['info', 'no-such-plugin', '--registry', registry.url], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error ERR_PLUGIN_NOT_FOUND: .+\n$/);
    const unreachable = await runCli(['search', 'x', '--registry', 'http://127.0.0.1:9'], { env });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error ERR_REGISTRY_UNREACHABLE: .+\n$/);
  });
});

describe('capabilities: info shows the requests, install grants them', () => {
  it('refuses to install a plugin that requests ungranted capabilities, naming the flags; installs it with them', async () => {
    const login = await runCli(['login', '--registry', registry.url, '--token', adminToken], { env });
    expect(login.code).toBe(0);
    const dir = await writePluginFolder(path.join(root, 'caps'), { manifest: helloManifest({ name: 'cli-caps', capabilities: ['postgres', 'net:api.hubapi.com'] }) });
    expect((await runCli(['publish', dir, '--quiet'], { env })).code).toBe(0);

    const info = await runCli(['info', 'cli-caps'], { env });
    expect(info.stdout).toContain('requests: postgres, net:api.hubapi.com   (grant with: plugline install cli-caps --allow-postgres --allow-net api.hubapi.com)');

    const runtimeDir = path.join(root, 'caps-runtime');
    const refused = await runCli(['install', 'cli-caps', '--dir', runtimeDir], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error ERR_CAPABILITY_DENIED: cli-caps@1\.0\.0 requests postgres, net:api\.hubapi\.com, not granted: grant with plugline install cli-caps --allow-postgres --allow-net api\.hubapi\.com/m);
    expect(existsSync(path.join(runtimeDir, 'plugins.json'))).toBe(false);
    const bad = await runCli(['install', 'cli-caps', '--dir', runtimeDir, '--allow-net', 'not a host'], { env });
    expect(bad.stderr).toMatch(/^error ERR_USAGE: --allow-net needs host\[:port\]/m);

    const installed = await runCli(['install', 'cli-caps', '--dir', runtimeDir, '--allow-net', 'api.hubapi.com', '--allow-net', '127.0.0.1:5432', '--allow-postgres', '--json'], { env });
    expect(installed.code).toBe(0);
    expect(JSON.parse(installed.stdout)).toMatchObject({ requested: ['postgres', 'net:api.hubapi.com'], granted: ['net:api.hubapi.com', 'net:127.0.0.1:5432', 'postgres'] });
    const project = JSON.parse(await readFile(path.join(runtimeDir, 'plugins.json'), 'utf8')) as { plugins: { grants: string[] }[] };
    expect(project.plugins[0]!.grants).toEqual(['net:api.hubapi.com', 'net:127.0.0.1:5432', 'postgres']);
    const listed = await runCli(['list', '--dir', runtimeDir], { env });
    expect(listed.stdout).toMatch(/cli-caps .*net:api\.hubapi\.com net:127\.0\.0\.1:5432 postgres/);
  });
});
