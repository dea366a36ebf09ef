import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, childEnv, helloManifest, makeTempDir, runCli, writePluginFolder } from './test-support/fixtures.js';

// npm's conventions, through the built `plugline` binary against a real registry: publish --tag and
// --dry-run, whoami, token create / list / revoke, and a warning when a deprecated version installs.
const adminToken = 'conventions-admin-token';
let root: string;
let registry: RunningRegistry;
let env: NodeJS.ProcessEnv;
let admin: RegistryClient;

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('conventions');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry-data'), adminToken, logger: pino({ level: 'silent' }) });
  env = childEnv({ PLUGLINE_CONFIG: path.join(root, 'config.json'), PLUGLINE_RUNTIME_DIR: path.join(root, 'runtime') });
  admin = new RegistryClient({ url: registry.url, token: adminToken });
  expect((await runCli(['login', '--registry', registry.url, '--token', adminToken], { env })).code).toBe(0);
});
afterAll(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

let folders = 0;
async function pluginAt(version: string): Promise<string> {
  folders += 1;
  return writePluginFolder(path.join(root, `tagged-${folders}`), { manifest: helloManifest({ name: 'tagged', version }) });
}

describe('publish', () => {
  it('--dry-run packs and reports without uploading', async () => {
    const dir = await pluginAt('0.1.0');
    const dry = await runCli(['publish', '--dry-run', '--json'], { cwd: dir, env });
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ name: 'tagged', version: '0.1.0', tag: 'latest', dryRun: true, integrity: expect.stringMatching(/^sha512-/) });
    await expect(admin.getPlugin('tagged')).rejects.toMatchObject({ code: 'ERR_PLUGIN_NOT_FOUND' });
  });

  it('--tag beta points beta at the new version and leaves latest where it was', async () => {
    expect((await runCli(['publish'], { cwd: await pluginAt('0.1.0'), env })).code).toBe(0);
    const beta = await runCli(['publish', '--tag', 'beta'], { cwd: await pluginAt('0.2.0'), env });
    expect(beta.code).toBe(0);
    expect(beta.stdout).toContain('published tagged@0.2.0');
    expect(beta.stdout).toContain('latest stays 0.1.0');
    expect(await admin.getDistTags('tagged')).toEqual({ latest: '0.1.0', beta: '0.2.0' });
    // What `install tagged` resolves is still 0.1.0.
    expect((await admin.resolve('tagged', 'latest')).version).toBe('0.1.0');
    expect((await admin.resolve('tagged', 'beta')).version).toBe('0.2.0');
    // A plain publish of a higher release moves latest as before; beta stays.
    expect((await runCli(['publish'], { cwd: await pluginAt('0.3.0'), env })).code).toBe(0);
    expect(await admin.getDistTags('tagged')).toEqual({ latest: '0.3.0', beta: '0.2.0' });
  });

  it('a first publish under --tag also becomes latest (a plugin always has one)', async () => {
    const dir = await writePluginFolder(path.join(root, 'first-beta'), { manifest: helloManifest({ name: 'first-beta', version: '1.0.0-beta.1' }) });
    expect((await runCli(['publish', '--tag', 'next'], { cwd: dir, env })).code).toBe(0);
    expect(await admin.getDistTags('first-beta')).toEqual({ latest: '1.0.0-beta.1', next: '1.0.0-beta.1' });
  });

  it('refuses a --tag that is a semver range', async () => {
    const refused = await runCli(['publish', '--tag', '^1.0.0'], { cwd: await pluginAt('0.4.0'), env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error ERR_BAD_REQUEST: .*dist-tag/m);
    expect(Object.keys((await admin.getPlugin('tagged')).versions)).not.toContain('0.4.0');
  });
});

describe('whoami and tokens', () => {
  it('creates, lists and revokes tokens, never printing a secret twice', async () => {
    const who = await runCli(['whoami'], { env });
    expect(who.code).toBe(0);
    expect(who.stdout).toMatch(/^admin \(admin\)/);

    const created = await runCli(['token', 'create', '--user', 'alice', '--name', 'ci', '--json'], { env });
    expect(created.code).toBe(0);
    const token = JSON.parse(created.stdout) as { id: string; token: string; user: string; scopes: string[] };
    expect(token).toMatchObject({ user: 'alice', scopes: ['publish'] });

    const aliceEnv = { ...env, PLUGLINE_CONFIG: path.join(root, 'alice.json') };
    await writeFile(path.join(root, 'alice.json'), JSON.stringify({ registry: registry.url, tokens: { [registry.url]: token.token } }));
    const aliceWho = await runCli(['whoami', '--json'], { env: aliceEnv });
    expect(JSON.parse(aliceWho.stdout)).toMatchObject({ user: 'alice', admin: false, scopes: ['publish'] });

    const listed = await runCli(['token', 'list'], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${token.id}\\s+alice\\s+publish\\s+ci\\s+\\S+\\s+active`));
    expect(listed.stdout).not.toContain(token.token);
    // A user sees only their own tokens.
    const mine = JSON.parse((await runCli(['token', 'list', '--json'], { env: aliceEnv })).stdout) as { tokens: { user: string }[] };
    expect(mine.tokens.map((entry) => entry.user)).toEqual(['alice']);
    const others = await runCli(['token', 'list', '--user', 'admin'], { env: aliceEnv });
    expect(others.code).toBe(1);
    expect(others.stderr).toMatch(/^error ERR_FORBIDDEN/);

    expect((await runCli(['token', 'revoke', token.id], { env })).stdout).toContain(`revoked ${token.id}`);
    const afterRevoke = await runCli(['whoami'], { env: aliceEnv });
    expect(afterRevoke.code).toBe(1);
    expect(afterRevoke.stderr).toMatch(/^error ERR_UNAUTHORIZED/);
    expect((await runCli(['token', 'list'], { env })).stdout).toMatch(new RegExp(`${token.id}.*revoked`));
  });
});

describe('install of a deprecated version', () => {
  it('installs it and warns with the deprecation message', async () => {
    const dir = await writePluginFolder(path.join(root, 'old'), { manifest: helloManifest({ name: 'old-plugin', version: '1.0.0' }) });
    expect((await runCli(['publish'], { cwd: dir, env })).code).toBe(0);
    expect((await runCli(['deprecate', 'old-plugin@1.0.0', 'use new-plugin instead'], { env })).code).toBe(0);
    const installed = await runCli(['install', 'old-plugin@1.0.0'], { env });
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain('installed old-plugin@1.0.0');
    expect(installed.stderr).toContain('warning: old-plugin@1.0.0 is deprecated: use new-plugin instead');
    // A version that is not deprecated installs without the warning.
    const fresh = await runCli(['install', 'tagged@0.3.0'], { env });
    expect(fresh.code).toBe(0);
    expect(fresh.stderr).not.toContain('deprecated');
  });
});
