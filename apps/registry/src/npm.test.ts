import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRegistry, startRegistry } from './index.js';

// The npm protocol under /npm/, driven by the real npm client: `npm publish` of the SDK as `npm pack`
// builds it, then `npm install` in a fresh project whose .npmrc sends only the @plugline scope here.
const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const adminToken = 'npm-protocol-admin';
let root: string;
let registry: RunningRegistry;
let npmUrl: string;
let sdkTarball: string;
let sdkVersion: string;

/** npm with its own cache-free config: the registry token for /npm/ only, no user .npmrc. */
function npm(args: string[], cwd: string, token?: string) {
  const auth = token ? [`--//${new URL(npmUrl).host}/npm/:_authToken=${token}`] : [];
  return run('npm', [...args, ...auth, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    env: { ...process.env, npm_config_userconfig: path.join(root, 'user.npmrc'), npm_config_update_notifier: 'false' },
  });
}

/** The JSON body `npm publish` sends, claiming `version`, with the SDK tarball attached. */
async function publishBody(version: string): Promise<string> {
  const data = (await readFile(sdkTarball)).toString('base64');
  return JSON.stringify({
    _id: '@plugline/sdk',
    name: '@plugline/sdk',
    'dist-tags': { latest: version },
    versions: { [version]: { name: '@plugline/sdk', version } },
    _attachments: { [`@plugline/sdk-${version}.tgz`]: { content_type: 'application/octet-stream', data, length: data.length } },
  });
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'plugline-npm-'));
  await writeFile(path.join(root, 'user.npmrc'), '');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'data'), adminToken, logger: pino({ level: 'silent' }) });
  npmUrl = `${registry.url}/npm/`;
  const packed = await run('npm', ['pack', '--json', '--pack-destination', root, '-w', '@plugline/sdk'], { cwd: repoRoot });
  const [info] = JSON.parse(packed.stdout) as { filename: string; version: string }[];
  sdkTarball = path.join(root, info!.filename);
  sdkVersion = info!.version;
}, 60_000);
afterAll(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('npm protocol', () => {
  it('refuses npm publish without a token, and with a token that lacks publish rights on the scope', async () => {
    await expect(npm(['publish', sdkTarball, '--registry', npmUrl], root)).rejects.toMatchObject({ stderr: expect.stringMatching(/401|E401|ENEEDAUTH/) });
    const other = await fetch(`${registry.url}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: ['publish'], user: 'mallory' }),
    });
    const { token } = (await other.json()) as { token: string };
    // The admin claims the @plugline scope first; mallory may not publish into it.
    await npm(['publish', sdkTarball, '--registry', npmUrl], root, adminToken);
    // A version npm's own client does not know yet, so the request reaches the server.
    const body = await publishBody('9.9.9');
    const refused = await fetch(`${npmUrl}@plugline%2fsdk`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('ERR_FORBIDDEN');
  });

  it('serves the packument and the tarball npm publish stored, with integrity and shasum', async () => {
    const answer = await fetch(`${registry.url}/npm/@plugline%2fsdk`);
    expect(answer.status).toBe(200);
    const doc = (await answer.json()) as { name: string; 'dist-tags': Record<string, string>; versions: Record<string, { dist: { tarball: string; integrity: string; shasum: string }; dependencies?: Record<string, string> }> };
    expect(doc.name).toBe('@plugline/sdk');
    expect(doc['dist-tags']).toEqual({ latest: sdkVersion });
    const version = doc.versions[sdkVersion]!;
    expect(version.dependencies).toHaveProperty('ajv');
    const tarball = await fetch(version.dist.tarball);
    expect(tarball.status).toBe(200);
    const bytes = Buffer.from(await tarball.arrayBuffer());
    expect(bytes.equals(await readFile(sdkTarball))).toBe(true);
    expect(version.dist.integrity).toBe(`sha512-${createHash('sha512').update(bytes).digest('base64')}`);
    expect(version.dist.shasum).toBe(createHash('sha1').update(bytes).digest('hex'));
    // The unencoded two-segment form answers too.
    expect((await fetch(`${registry.url}/npm/@plugline/sdk`)).status).toBe(200);
    expect((await fetch(`${registry.url}/npm/@plugline%2fnope`)).status).toBe(404);
  });

  it('refuses a second publish of one version with 409, and a tarball whose package.json disagrees with 400', async () => {
    // npm's client refuses this itself after reading the packument; the server must too.
    const again = await fetch(`${npmUrl}@plugline%2fsdk`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: await publishBody(sdkVersion) });
    expect(again.status).toBe(409);
    const lying = await fetch(`${npmUrl}@plugline%2fsdk`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: await publishBody('2.0.0') });
    expect(lying.status).toBe(400);
    expect(((await lying.json()) as { error: { code: string } }).error.code).toBe('ERR_VERSION_MISMATCH');
    expect(Object.keys(((await (await fetch(`${npmUrl}@plugline%2fsdk`)).json()) as { versions: object }).versions)).toEqual([sdkVersion]);
  });

  it('lets plain `npm install` in a fresh project take @plugline/* from here and the rest from npm', async () => {
    const project = path.join(root, 'consumer');
    await mkdir(project);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await writeFile(path.join(project, '.npmrc'), `@plugline:registry=${npmUrl}\n`);
    await npm(['install', '@plugline/sdk'], project);
    const installed = JSON.parse(await readFile(path.join(project, 'node_modules', '@plugline', 'sdk', 'package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(sdkVersion);
    // What npm installed is the tarball this registry stored (same integrity as `npm pack` made).
    const lock = JSON.parse(await readFile(path.join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { integrity?: string }> };
    expect(lock.packages['node_modules/@plugline/sdk']?.integrity).toBe(`sha512-${createHash('sha512').update(await readFile(sdkTarball)).digest('base64')}`);
    expect(lock.packages['node_modules/ajv']?.integrity).toMatch(/^sha512-/);
    const loaded = await run(process.execPath, ['-e', "import('@plugline/sdk').then((sdk) => console.log(typeof sdk.definePlugin))"], { cwd: project });
    expect(loaded.stdout.trim()).toBe('function');
  }, 120_000);
});
