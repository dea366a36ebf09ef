// Issue 14 part B through the real `plugline` binary: registry text is sanitised before it reaches the
// terminal, nested secrets never show in CLI output, and runtime commands send the admin token.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { fixtureManifest, packPlugin } from '@plugline/registry/testing';
import { type RunningRuntime, startRuntime } from '@plugline/runtime';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sanitizeText } from './output.js';
import { assertBuilt, childEnv, makeTempDir, runCli } from './test-support/fixtures.js';

const adminToken = 'security-admin-token';
let root: string;
let registry: RunningRegistry;
let hostile: Server;
let hostileUrl: string;
let runtime: RunningRuntime | undefined;
let env: NodeJS.ProcessEnv;

// What a hostile publisher puts in registry text: clear screen, a clipboard write, a hidden link, a C1 CSI.
const ESC = '\u001b';
const clear = `${ESC}[2J${ESC}[H`;
const osc52 = `${ESC}]52;c;ZWNobyBwd25lZA==\u0007`;
const osc8 = `${ESC}]8;;https://evil.test/${ESC}\\click here${ESC}]8;;${ESC}\\`;
const c1 = '\u009b31m';
const hostileText = `Nice plugin${clear}${osc52} ${osc8}${c1}\r!`;
// Nothing that a terminal acts on: C0 (except newline) and C1 controls, DEL.
const hasControl = (text: string) =>
  [...text].some((char) => {
    const code = char.charCodeAt(0);
    return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
  });

const secrets = { token: 'cli-ref-token-secret-5555', header: 'Bearer cli-header-secret-6666', item: 'cli-array-secret-7777' };
const secretSchema = {
  type: 'object',
  $defs: { credential: { type: 'object', properties: { user: { type: 'string' }, token: { type: 'string', writeOnly: true } } } },
  properties: {
    auth: { $ref: '#/$defs/credential' },
    headers: { type: 'object', additionalProperties: { type: 'string', writeOnly: true } },
    targets: { type: 'array', items: { type: 'object', properties: { url: { type: 'string' }, key: { type: 'string', writeOnly: true } } } },
    label: { type: 'string' },
  },
} as const;
const secretConfig = { auth: { user: 'alice', token: secrets.token }, headers: { Authorization: secrets.header }, targets: [{ url: 'https://x.test', key: secrets.item }], label: 'visible' };
const leaks = (text: string) => Object.values(secrets).filter((secret) => text.includes(secret));

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('security');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry-data'), adminToken, logger: pino({ level: 'silent' }) });
  const client = new RegistryClient({ url: registry.url, token: adminToken });
  await client.publish(await packPlugin({ manifest: fixtureManifest('hostile-text', '1.0.0', { description: hostileText, keywords: [`kw${clear}`] }) }), {
    name: 'hostile-text',
    version: '1.0.0',
  });
  await client.deprecate('hostile-text', '1.0.0', `use 2.x${osc52}`);
  await client.publish(await packPlugin({ manifest: fixtureManifest('nested-secrets', '1.0.0', { config: secretSchema }) }), { name: 'nested-secrets', version: '1.0.0' });
  // A registry that answers every request with escape sequences in its error message.
  hostile = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'ERR_PLUGIN_NOT_FOUND', message: `gone${clear}${osc52}${c1}` } }));
  });
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  env = childEnv({ PLUGLINE_CONFIG: path.join(root, 'config.json'), PLUGLINE_RUNTIME_DIR: path.join(root, 'runtime'), PLUGLINE_RUNTIME_ADMIN_TOKEN: '', PLUGLINE_TOKEN: '' });
});
afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  await new Promise<void>((resolve) => hostile.close(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

describe('sanitizeText', () => {
  it('removes whole escape sequences and other controls, keeping newlines and tabs only where asked', () => {
    expect(sanitizeText(hostileText)).toBe('Nice plugin click here!');
    expect(sanitizeText('a\tb\nc', { multiline: true })).toBe('a\tb\nc');
    expect(sanitizeText('a\tb\nc')).toBe('a b c');
    expect(sanitizeText(`unterminated ${ESC}]52;c;abc\nnext line`, { multiline: true })).toBe('unterminated \nnext line');
    expect(sanitizeText('plain text, ünïcödé and emoji 🎉')).toBe('plain text, ünïcödé and emoji 🎉');
  });
});

describe('registry text reaches the terminal without control characters', () => {
  it('plugline info and plugline search strip ESC[2J, OSC 52, OSC 8 and C1 from descriptions, keywords and deprecations', async () => {
    const info = await runCli(['info', 'hostile-text', '--registry', registry.url], { env });
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('hostile-text@1.0.0 - Nice plugin click here!');
    expect(info.stdout).toContain('DEPRECATED: use 2.x');
    expect(info.stdout).toMatch(/\n/);
    expect(hasControl(info.stdout)).toBe(false);
    const search = await runCli(['search', 'nice', '--registry', registry.url], { env });
    expect(search.code).toBe(0);
    expect(search.stdout).toContain('Nice plugin click here!');
    expect(hasControl(search.stdout)).toBe(false);
    // --json keeps the data but escapes every control character (C1 included).
    const json = await runCli(['search', 'nice', '--registry', registry.url, '--json'], { env });
    expect(hasControl(json.stdout)).toBe(false);
    expect((JSON.parse(json.stdout) as { results: { description: string }[] }).results[0]?.description).toBe(hostileText);
  });

  it('strips them from error messages a registry sends, on stderr and in --json', async () => {
    const failed = await runCli(['info', 'anything', '--registry', hostileUrl], { env });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^error ERR_PLUGIN_NOT_FOUND: gone/);
    expect(hasControl(failed.stderr)).toBe(false);
    const json = await runCli(['info', 'anything', '--registry', hostileUrl, '--json'], { env });
    expect(hasControl(json.stdout + json.stderr)).toBe(false);
  });
});

describe('secrets in CLI output and runtime commands with the admin token', () => {
  it('masks nested secrets in install, list and config; status and config --runtime send the token', async () => {
    const configFile = path.join(root, 'secret-config.json');
    await writeFile(configFile, JSON.stringify(secretConfig));
    const installed = await runCli(['install', 'nested-secrets', '--config', configFile, '--registry', registry.url], { env });
    expect(installed.code).toBe(0);
    expect(leaks(installed.stdout + installed.stderr)).toEqual([]);
    for (const args of [['list'], ['list', '--json'], ['config', 'nested-secrets'], ['config', 'nested-secrets', '--json'], ['config', 'nested-secrets', '--set', 'label=changed']]) {
      const ran = await runCli(args, { env });
      expect(ran.code, args.join(' ')).toBe(0);
      expect(ran.stdout, args.join(' ')).toContain('********');
      expect(leaks(ran.stdout + ran.stderr), args.join(' ')).toEqual([]);
    }
    const shown = JSON.parse((await runCli(['config', 'nested-secrets', '--json'], { env })).stdout) as Record<string, unknown>;
    expect(shown).toEqual({ auth: { user: 'alice', token: '********' }, headers: { Authorization: '********' }, targets: [{ url: 'https://x.test', key: '********' }], label: 'changed' });

    // A running runtime: its token is in the runtime folder (generated), which the CLI reads.
    const dir = path.join(root, 'runtime');
    runtime = await startRuntime({ dir, port: 0, logger: pino({ level: 'silent' }), schedule: false });
    expect(runtime.adminTokenFile).toBe(path.join(dir, 'admin-token'));
    const status = await runCli(['status', '--runtime', runtime.url], { env });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/nested-secrets +1\.0\.0 +running/);
    expect(leaks(status.stdout)).toEqual([]);
    const reloaded = await runCli(['config', 'nested-secrets', '--runtime', runtime.url, '--set', 'label=hot'], { env });
    expect(reloaded.code).toBe(0);
    expect(reloaded.stdout).toContain(`applied to the running runtime at ${runtime.url}`);
    expect(leaks(reloaded.stdout)).toEqual([]);
    // The masked round trip through the API kept every nested secret.
    const stored = JSON.parse(await readFile(path.join(dir, 'plugins.json'), 'utf8')).plugins[0].config;
    expect(stored).toEqual({ ...secretConfig, label: 'hot' });

    // --token and PLUGLINE_RUNTIME_ADMIN_TOKEN win over the file; a wrong one is refused.
    const wrong = await runCli(['status', '--runtime', runtime.url, '--token', 'not-the-token-at-all'], { env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error ERR_UNAUTHORIZED: the runtime at .* refused the admin token/);
    const fromEnv = await runCli(['status', '--runtime', runtime.url, '--dir', path.join(root, 'nowhere')], { env: { ...env, PLUGLINE_RUNTIME_ADMIN_TOKEN: runtime.adminToken } });
    expect(fromEnv.code).toBe(0);
    const none = await runCli(['status', '--runtime', runtime.url, '--dir', path.join(root, 'nowhere', 'runtime')], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error ERR_UNAUTHORIZED: no runtime admin token/);
  });
});
