import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PluglineError } from '@plugline/sdk';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PluginDocument, RegistryClient, type VersionDocument } from './client.js';
import { type RunningRegistry, startRegistry } from './index.js';
import { computeIntegrity } from './tarball.js';
import { fixtureManifest, packPlugin, rawTarball } from './testing.js';

const adminToken = 'test-admin-token';
/** Set by api-mongodb.test.ts, which runs this whole suite again on the MongoDB engine. */
const engine = (globalThis as { pluglineRegistryTestEngine?: { mongoUri: string; store: string; blobs: string } }).pluglineRegistryTestEngine;
let registry: RunningRegistry;
let dataDir: string;
let admin: RegistryClient;
let alice: RegistryClient;
let bob: RegistryClient;
let aliceToken: string;
let bobToken: string;
let readerToken: string;
let aliceTokenId: string;

const pack = (name: string, version: string, extra: Parameters<typeof fixtureManifest>[2] = {}, files?: Record<string, string>) =>
  packPlugin({ manifest: fixtureManifest(name, version, extra), ...(files ? { files } : {}) });

function url(path: string): string {
  return `${registry.url}${path}`;
}

async function put(path: string, body: Uint8Array | string | undefined, token?: string, contentType = 'application/gzip'): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(url(path), { method: 'PUT', headers, ...(body === undefined ? {} : { body }) });
}

async function expectError(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect({ status: response.status, code: body.error.code }).toEqual({ status, code });
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error.message;
}

async function clientError(promise: Promise<unknown>): Promise<PluglineError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PluglineError);
    return error as PluglineError;
  }
  throw new Error('expected the client to throw');
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'plugline-registry-'));
  registry = await startRegistry({
    port: 0,
    dataDir,
    ...(engine ? { mongoUri: engine.mongoUri } : {}),
    adminToken,
    logger: pino({ level: 'silent' }),
    limits: { maxTarballBytes: 256 * 1024, maxEntries: 40, maxUnpackedBytes: 2 * 1024 * 1024 },
  });
  admin = new RegistryClient({ url: registry.url, token: adminToken });
  const a = await admin.createToken({ user: 'alice', scopes: ['read', 'publish'], name: 'alice laptop' });
  const b = await admin.createToken({ user: 'bob', scopes: ['publish'] });
  const r = await admin.createToken({ user: 'carol', scopes: ['read'] });
  aliceToken = a.token;
  aliceTokenId = a.id;
  bobToken = b.token;
  readerToken = r.token;
  alice = new RegistryClient({ url: registry.url, token: aliceToken });
  bob = new RegistryClient({ url: registry.url, token: bobToken });
});

afterAll(async () => {
  await registry?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('PUT /api/v1/plugins/:name/:version (publish)', () => {
  it('publishes a tarball: 201 { name, version, integrity } with the SRI sha512 of the bytes', async () => {
    const tarball = await pack('geoip', '1.0.0');
    const response = await put('/api/v1/plugins/geoip/1.0.0', tarball, aliceToken);
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ name: 'geoip', version: '1.0.0', integrity: computeIntegrity(tarball) });
  });

  it('publishes through the typed client', async () => {
    const tarball = await pack('geoip', '1.1.0', { keywords: ['geo', 'location'] });
    expect(await alice.publish(tarball, { name: 'geoip', version: '1.1.0' })).toEqual({
      name: 'geoip',
      version: '1.1.0',
      integrity: computeIntegrity(tarball),
    });
  });

  it('answers 409 ERR_VERSION_EXISTS for a second publish of a version (versions are immutable)', async () => {
    await expectError(await put('/api/v1/plugins/geoip/1.0.0', await pack('geoip', '1.0.0', { description: 'changed' }), aliceToken), 409, 'ERR_VERSION_EXISTS');
    const error = await clientError(alice.publish(await pack('geoip', '1.0.0'), { name: 'geoip', version: '1.0.0' }));
    expect(error.code).toBe('ERR_VERSION_EXISTS');
    expect(error.status).toBe(409);
  });

  it('lets exactly one of two concurrent publishes of one version win (one 201, one 409)', async () => {
    const [one, two] = await Promise.all([pack('race', '1.0.0', { description: 'one' }), pack('race', '1.0.0', { description: 'two' })]);
    const responses = await Promise.all([put('/api/v1/plugins/race/1.0.0', one, aliceToken), put('/api/v1/plugins/race/1.0.0', two, aliceToken)]);
    expect(responses.map((response) => response.status).sort()).toEqual([201, 409]);
    const loser = responses.find((response) => response.status === 409);
    if (loser) await expectError(loser, 409, 'ERR_VERSION_EXISTS');
    const winner = (await responses.find((response) => response.status === 201)?.json()) as { integrity: string };
    const plugin = await admin.getPlugin('race');
    expect(Object.keys(plugin.versions)).toEqual(['1.0.0']);
    expect(plugin.versions['1.0.0']?.integrity).toBe(winner.integrity);
  });

  it('answers 401 ERR_UNAUTHORIZED without a token, with an unknown token and with a malformed header', async () => {
    const tarball = await pack('geoip', '9.0.0');
    await expectError(await put('/api/v1/plugins/geoip/9.0.0', tarball), 401, 'ERR_UNAUTHORIZED');
    await expectError(await put('/api/v1/plugins/geoip/9.0.0', tarball, 'plg_nope_nope'), 401, 'ERR_UNAUTHORIZED');
    const malformed = await fetch(url('/api/v1/plugins/geoip/9.0.0'), { method: 'PUT', headers: { authorization: 'Basic abc' }, body: tarball });
    await expectError(malformed, 401, 'ERR_UNAUTHORIZED');
    const anonymous = new RegistryClient({ url: registry.url });
    expect((await clientError(anonymous.publish(tarball, { name: 'geoip', version: '9.0.0' }))).code).toBe('ERR_UNAUTHORIZED');
  });

  it('answers 403 ERR_FORBIDDEN for a read-only token and for a publisher who does not own the name', async () => {
    await expectError(await put('/api/v1/plugins/geoip/9.0.0', await pack('geoip', '9.0.0'), readerToken), 403, 'ERR_FORBIDDEN');
    await expectError(await put('/api/v1/plugins/geoip/9.0.0', await pack('geoip', '9.0.0'), bobToken), 403, 'ERR_FORBIDDEN');
    expect((await admin.getPlugin('geoip')).versions['9.0.0']).toBeUndefined();
  });

  it('lets the admin publish any name', async () => {
    expect((await admin.publish(await pack('geoip', '1.2.0'), { name: 'geoip', version: '1.2.0' })).version).toBe('1.2.0');
  });

  it('answers 400 ERR_NAME_MISMATCH and ERR_VERSION_MISMATCH when plugin.json disagrees with the URL', async () => {
    await expectError(await put('/api/v1/plugins/geoip/2.0.0', await pack('other', '2.0.0'), aliceToken), 400, 'ERR_NAME_MISMATCH');
    await expectError(await put('/api/v1/plugins/geoip/2.0.0', await pack('geoip', '2.0.1'), aliceToken), 400, 'ERR_VERSION_MISMATCH');
  });

  it('answers 400 ERR_VERSION_INVALID and ERR_NAME_INVALID for a bad URL', async () => {
    await expectError(await put('/api/v1/plugins/geoip/1.0', await pack('geoip', '1.0.0'), aliceToken), 400, 'ERR_VERSION_INVALID');
    await expectError(await put('/api/v1/plugins/Not_Valid/1.0.0', await pack('geoip', '1.0.0'), aliceToken), 400, 'ERR_NAME_INVALID');
  });

  it('answers 400 with the reason for invalid tarballs and manifests', async () => {
    const cases: [Uint8Array | string, string][] = [
      ['this is not a tarball', 'ERR_TARBALL_INVALID'],
      [rawTarball([{ path: 'package/plugin.json', body: '{}' }, { path: 'package/link', type: '2', linkpath: '/etc/passwd' }]), 'ERR_TARBALL_UNSAFE_ENTRY'],
      [rawTarball([{ path: 'package/plugin.json', body: '{}' }, { path: 'package/../../etc/evil', body: 'x' }]), 'ERR_TARBALL_UNSAFE_ENTRY'],
      [rawTarball([{ path: 'package/plugin.json', body: '{}' }, { path: 'package/hard', type: '1', linkpath: 'package/plugin.json' }]), 'ERR_TARBALL_UNSAFE_ENTRY'],
      [rawTarball([{ path: 'package/plugin.json', body: '{}' }, { path: 'package/dev', type: '3' }]), 'ERR_TARBALL_UNSAFE_ENTRY'],
      [await packPlugin({ manifest: null }), 'ERR_MANIFEST_MISSING'],
      [await packPlugin({ manifest: { name: 'badman', version: '1.0.0', main: 'index.js' } }), 'ERR_MANIFEST_INVALID'],
      [await pack('badman', '1.0.0', { config: { type: 'object', properties: { n: { type: 'nope' } } } as never }), 'ERR_CONFIG_SCHEMA_INVALID'],
      [await packPlugin({ manifest: fixtureManifest('badman', '1.0.0'), files: Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`f${i}.js`, ''])) }), 'ERR_TARBALL_LIMITS'],
    ];
    for (const [body, code] of cases) {
      const message = await expectError(await put('/api/v1/plugins/badman/1.0.0', body, aliceToken), 400, code);
      expect(message).not.toBe('');
    }
    await expectError(await fetch(url('/api/v1/plugins/badman')), 404, 'ERR_PLUGIN_NOT_FOUND');
  });

  it('answers 413 ERR_TARBALL_TOO_LARGE over the size cap', async () => {
    const big = new Uint8Array(300 * 1024).fill(7);
    await expectError(await put('/api/v1/plugins/huge/1.0.0', big, aliceToken), 413, 'ERR_TARBALL_TOO_LARGE');
  });

  it('answers 400 ERR_TARBALL_INVALID for an empty body', async () => {
    await expectError(await put('/api/v1/plugins/empty/1.0.0', undefined, aliceToken), 400, 'ERR_TARBALL_INVALID');
  });
});

describe('GET /api/v1/plugins/:name', () => {
  it('answers the plugin document with every version, dist-tags, time, maintainers and README', async () => {
    const plugin = (await (await fetch(url('/api/v1/plugins/geoip'))).json()) as PluginDocument;
    expect(plugin.name).toBe('geoip');
    expect(plugin.description).toBe('Fixture plugin geoip');
    expect(plugin.distTags.latest).toBe('1.2.0');
    expect(Object.keys(plugin.versions)).toEqual(['1.0.0', '1.1.0', '1.2.0']);
    const version = plugin.versions['1.1.0'];
    expect(version).toMatchObject({ name: 'geoip', version: '1.1.0', config: fixtureManifest('geoip', '1.1.0').config });
    expect(version?.manifest.keywords).toEqual(['geo', 'location']);
    expect(version?.tarball).toBe(`${registry.url}/api/v1/plugins/geoip/-/1.1.0.tgz`);
    expect(version?.integrity).toMatch(/^sha512-/);
    expect(version).not.toHaveProperty('readme');
    expect(plugin.readme).toContain('# Fixture');
    expect(Object.keys(plugin.time)).toEqual(expect.arrayContaining(['created', 'modified', '1.0.0', '1.1.0', '1.2.0']));
    expect(plugin.maintainers).toEqual(['alice']);
    expect(plugin.downloads).toMatchObject({ total: expect.any(Number), versions: expect.any(Object), daily: expect.any(Array) });
  });

  it('answers 404 ERR_PLUGIN_NOT_FOUND for an unknown plugin', async () => {
    await expectError(await fetch(url('/api/v1/plugins/nobody-here')), 404, 'ERR_PLUGIN_NOT_FOUND');
    expect((await clientError(alice.getPlugin('nobody-here'))).code).toBe('ERR_PLUGIN_NOT_FOUND');
  });
});

describe('GET /api/v1/plugins/:name/versions/:spec', () => {
  beforeAll(async () => {
    for (const version of ['1.0.0', '1.4.2', '1.10.0', '2.0.0-beta.1', '2.0.0-beta.2']) {
      await alice.publish(await pack('semvery', version), { name: 'semvery', version });
    }
  });

  it.each([
    ['1.4.2', '1.4.2'],
    ['^1.0.0', '1.10.0'],
    ['~1.4.0', '1.4.2'],
    ['1.x', '1.10.0'],
    ['*', '1.10.0'],
    ['>=1.0.0 <1.5.0', '1.4.2'],
    ['latest', '1.10.0'],
    ['^2.0.0-beta.1', '2.0.0-beta.2'],
    ['2.0.0-beta.1', '2.0.0-beta.1'],
  ])('resolves %j to %s (highest satisfying; prereleases only when asked)', async (spec, expected) => {
    const document = (await (await fetch(url(`/api/v1/plugins/semvery/versions/${encodeURIComponent(spec)}`))).json()) as VersionDocument;
    expect(document.version).toBe(expected);
    const viaClient = await alice.resolve('semvery', spec);
    expect(viaClient.version).toBe(expected);
  });

  it('answers the full version document including the README', async () => {
    const document = await alice.resolve('semvery', '1.4.2');
    expect(document).toMatchObject({ name: 'semvery', version: '1.4.2', tarball: `${registry.url}/api/v1/plugins/semvery/-/1.4.2.tgz` });
    expect(document.config).toEqual(document.manifest.config);
    expect(document.readme).toContain('Fixture');
    expect(Date.parse(document.publishedAt)).not.toBeNaN();
  });

  it.each(['^3.0.0', '2.0.0', 'nightly', '>=2.0.0'])('answers 404 ERR_VERSION_NOT_FOUND for %j', async (spec) => {
    await expectError(await fetch(url(`/api/v1/plugins/semvery/versions/${encodeURIComponent(spec)}`)), 404, 'ERR_VERSION_NOT_FOUND');
  });

  it('answers 400 ERR_SPEC_INVALID for a spec that is no version, range or tag', async () => {
    await expectError(await fetch(url(`/api/v1/plugins/semvery/versions/${encodeURIComponent('!!')}`)), 400, 'ERR_SPEC_INVALID');
  });

  it('answers 404 ERR_PLUGIN_NOT_FOUND for an unknown plugin', async () => {
    expect((await clientError(alice.resolve('ghost', '^1'))).code).toBe('ERR_PLUGIN_NOT_FOUND');
  });
});

describe('GET /api/v1/plugins/:name/-/:version.tgz', () => {
  it('serves the exact bytes with ETag, immutable caching and the integrity, and counts the download', async () => {
    const tarball = await pack('dl-plugin', '1.0.0');
    const { integrity } = await alice.publish(tarball, { name: 'dl-plugin', version: '1.0.0' });
    const response = await fetch(url('/api/v1/plugins/dl-plugin/-/1.0.0.tgz'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/gzip');
    expect(response.headers.get('etag')).toBe(`"${integrity}"`);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('x-integrity')).toBe(integrity);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(computeIntegrity(bytes)).toBe(integrity);
    expect(Buffer.from(bytes).equals(Buffer.from(tarball))).toBe(true);

    const viaClient = await alice.download('dl-plugin', '1.0.0', { integrity });
    expect(Buffer.from(viaClient).equals(Buffer.from(tarball))).toBe(true);
    expect(alice.tarballUrl('dl-plugin', '1.0.0')).toBe(`${registry.url}/api/v1/plugins/dl-plugin/-/1.0.0.tgz`);

    const notModified = await fetch(url('/api/v1/plugins/dl-plugin/-/1.0.0.tgz'), { headers: { 'if-none-match': `"${integrity}"` } });
    expect(notModified.status).toBe(304);

    const plugin = await alice.getPlugin('dl-plugin');
    const today = new Date().toISOString().slice(0, 10);
    expect(plugin.downloads).toEqual({ total: 2, versions: { '1.0.0': 2 }, daily: [{ day: today, count: 2 }] });
  });

  it('makes the client throw ERR_TARBALL_INTEGRITY when the expected integrity differs', async () => {
    const error = await clientError(alice.download('dl-plugin', '1.0.0', { integrity: 'sha512-AAAA' }));
    expect(error.code).toBe('ERR_TARBALL_INTEGRITY');
  });

  it('answers 404 ERR_VERSION_NOT_FOUND / ERR_PLUGIN_NOT_FOUND / ERR_NOT_FOUND for missing tarballs', async () => {
    await expectError(await fetch(url('/api/v1/plugins/dl-plugin/-/9.9.9.tgz')), 404, 'ERR_VERSION_NOT_FOUND');
    await expectError(await fetch(url('/api/v1/plugins/ghost/-/1.0.0.tgz')), 404, 'ERR_PLUGIN_NOT_FOUND');
    await expectError(await fetch(url('/api/v1/plugins/dl-plugin/-/1.0.0.zip')), 404, 'ERR_NOT_FOUND');
  });
});

describe('dist-tags', () => {
  beforeAll(async () => {
    await alice.publish(await pack('tagged', '1.0.0'), { name: 'tagged', version: '1.0.0' });
    await alice.publish(await pack('tagged', '2.0.0-rc.1'), { name: 'tagged', version: '2.0.0-rc.1' });
  });

  it('sets a tag (client and raw JSON string body), resolves by it, lists and deletes it', async () => {
    expect(await alice.setDistTag('tagged', 'next', '2.0.0-rc.1')).toEqual({ latest: '1.0.0', next: '2.0.0-rc.1' });
    expect((await alice.resolve('tagged', 'next')).version).toBe('2.0.0-rc.1');
    const raw = await put('/api/v1/plugins/tagged/dist-tags/stable', JSON.stringify('1.0.0'), aliceToken, 'application/json');
    expect(raw.status).toBe(200);
    expect(await alice.getDistTags('tagged')).toEqual({ latest: '1.0.0', next: '2.0.0-rc.1', stable: '1.0.0' });
    expect(await alice.deleteDistTag('tagged', 'stable')).toEqual({ latest: '1.0.0', next: '2.0.0-rc.1' });
    await expectError(await fetch(url('/api/v1/plugins/tagged/versions/stable')), 404, 'ERR_VERSION_NOT_FOUND');
  });

  it('lets an owner move latest', async () => {
    await alice.setDistTag('tagged', 'latest', '2.0.0-rc.1');
    expect((await alice.resolve('tagged', 'latest')).version).toBe('2.0.0-rc.1');
    await alice.setDistTag('tagged', 'latest', '1.0.0');
  });

  it('rejects bad requests with coded errors', async () => {
    expect((await clientError(alice.setDistTag('tagged', 'beta', '7.7.7'))).code).toBe('ERR_VERSION_NOT_FOUND');
    expect((await clientError(alice.setDistTag('tagged', '1.x', '1.0.0'))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(alice.setDistTag('tagged', 'next.week', '1.0.0'))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(alice.setDistTag('tagged', '$where', '1.0.0'))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(alice.setDistTag('ghost', 'beta', '1.0.0'))).code).toBe('ERR_PLUGIN_NOT_FOUND');
    expect((await clientError(alice.deleteDistTag('tagged', 'latest'))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(alice.deleteDistTag('tagged', 'never-set'))).code).toBe('ERR_NOT_FOUND');
    expect((await clientError(bob.setDistTag('tagged', 'beta', '1.0.0'))).code).toBe('ERR_FORBIDDEN');
    expect((await clientError(bob.deleteDistTag('tagged', 'next'))).code).toBe('ERR_FORBIDDEN');
    await expectError(await put('/api/v1/plugins/tagged/dist-tags/beta', '{"version": 1}', aliceToken, 'application/json'), 400, 'ERR_BAD_REQUEST');
    await expectError(await put('/api/v1/plugins/tagged/dist-tags/beta', '{not json', aliceToken, 'application/json'), 400, 'ERR_BAD_REQUEST');
    await expectError(await put('/api/v1/plugins/tagged/dist-tags/beta', '"1.0.0"', undefined, 'application/json'), 401, 'ERR_UNAUTHORIZED');
    await expectError(await fetch(url('/api/v1/plugins/tagged/dist-tags/next'), { method: 'DELETE' }), 401, 'ERR_UNAUTHORIZED');
  });
});

describe('POST /api/v1/plugins/:name/:version/deprecate', () => {
  it('deprecates and un-deprecates a version', async () => {
    await alice.publish(await pack('old-thing', '1.0.0'), { name: 'old-thing', version: '1.0.0' });
    expect((await alice.deprecate('old-thing', '1.0.0', 'use new-thing')).deprecated).toBe('use new-thing');
    expect((await alice.resolve('old-thing', '1.0.0')).deprecated).toBe('use new-thing');
    expect((await alice.getPlugin('old-thing')).versions['1.0.0']?.deprecated).toBe('use new-thing');
    expect((await alice.deprecate('old-thing', '1.0.0', '')).deprecated).toBeUndefined();
    expect((await alice.resolve('old-thing', '1.0.0')).deprecated).toBeUndefined();
  });

  it('rejects with coded errors', async () => {
    expect((await clientError(alice.deprecate('old-thing', '5.0.0', 'x'))).code).toBe('ERR_VERSION_NOT_FOUND');
    expect((await clientError(alice.deprecate('ghost', '1.0.0', 'x'))).code).toBe('ERR_PLUGIN_NOT_FOUND');
    expect((await clientError(bob.deprecate('old-thing', '1.0.0', 'x'))).code).toBe('ERR_FORBIDDEN');
    expect((await clientError(new RegistryClient({ url: registry.url }).deprecate('old-thing', '1.0.0', 'x'))).code).toBe('ERR_UNAUTHORIZED');
    const badBody = await fetch(url('/api/v1/plugins/old-thing/1.0.0/deprecate'), {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 42 }),
    });
    await expectError(badBody, 400, 'ERR_BAD_REQUEST');
  });
});

describe('ownership, scopes and maintainers', () => {
  it('makes the first publisher of a scope own every name in it (URL-encoded names)', async () => {
    expect((await alice.publish(await pack('@acme/one', '1.0.0'), { name: '@acme/one', version: '1.0.0' })).name).toBe('@acme/one');
    const raw = await fetch(url('/api/v1/plugins/%40acme%2Fone'));
    expect(raw.status).toBe(200);
    expect(((await raw.json()) as PluginDocument).versions['1.0.0']?.tarball).toBe(`${registry.url}/api/v1/plugins/%40acme%2Fone/-/1.0.0.tgz`);
    expect(Buffer.from(await alice.download('@acme/one', '1.0.0')).length).toBeGreaterThan(0);
    expect((await clientError(bob.publish(await pack('@acme/two', '1.0.0'), { name: '@acme/two', version: '1.0.0' }))).code).toBe('ERR_FORBIDDEN');
    expect(await alice.getMaintainers('@acme/one')).toEqual({ ownerKey: '@acme', maintainers: ['alice'] });
  });

  it('lets owners add maintainers (for a scope: the whole scope) and remove them, never the last one', async () => {
    expect((await clientError(bob.addMaintainer('@acme/one', 'bob'))).code).toBe('ERR_FORBIDDEN');
    expect(await alice.addMaintainer('@acme/one', 'bob')).toEqual({ ownerKey: '@acme', maintainers: ['alice', 'bob'] });
    expect((await bob.publish(await pack('@acme/two', '1.0.0'), { name: '@acme/two', version: '1.0.0' })).name).toBe('@acme/two');
    expect((await bob.getPlugin('@acme/two')).maintainers).toEqual(['alice', 'bob']);
    expect(await bob.removeMaintainer('@acme/two', 'alice')).toEqual({ ownerKey: '@acme', maintainers: ['bob'] });
    expect((await clientError(bob.removeMaintainer('@acme/two', 'bob'))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(bob.removeMaintainer('@acme/two', 'zed'))).code).toBe('ERR_NOT_FOUND');
    expect((await clientError(alice.publish(await pack('@acme/three', '1.0.0'), { name: '@acme/three', version: '1.0.0' }))).code).toBe('ERR_FORBIDDEN');
    expect((await admin.addMaintainer('@acme/one', 'alice')).maintainers).toEqual(['bob', 'alice']);
  });

  it('rejects bad maintainer requests with coded errors', async () => {
    expect((await clientError(alice.addMaintainer('geoip', 'Not Valid!'))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(alice.addMaintainer('ghost', 'bob'))).code).toBe('ERR_PLUGIN_NOT_FOUND');
    expect((await clientError(new RegistryClient({ url: registry.url, token: readerToken }).addMaintainer('geoip', 'carol'))).code).toBe('ERR_FORBIDDEN');
    await expectError(await fetch(url('/api/v1/plugins/geoip/maintainers/bob'), { method: 'PUT' }), 401, 'ERR_UNAUTHORIZED');
    expect((await clientError(alice.getMaintainers('ghost'))).code).toBe('ERR_PLUGIN_NOT_FOUND');
  });
});

describe('GET /api/v1/search', () => {
  beforeAll(async () => {
    await alice.publish(await pack('search-geo', '1.0.0', { description: 'Adds country from IP', keywords: ['enrich', 'location'] }), { name: 'search-geo', version: '1.0.0' });
    await alice.publish(await pack('search-country-label', '1.0.0', { description: 'Labels events with a geo region', keywords: ['label'] }), { name: 'search-country-label', version: '1.0.0' });
    await alice.publish(await pack('search-s3', '1.0.0', { description: 'Exports to S3', keywords: ['export'] }), { name: 'search-s3', version: '1.0.0' });
  });

  it('ranks name matches above description matches and reports total, page and size', async () => {
    const result = await alice.search({ q: 'search-geo' });
    expect(result.results[0]).toMatchObject({ name: 'search-geo', version: '1.0.0', description: 'Adds country from IP', keywords: ['enrich', 'location'], downloads: 0 });
    const geo = await alice.search({ q: 'geo' });
    const names = geo.results.map((hit) => hit.name);
    expect(names.indexOf('search-geo')).toBeLessThan(names.indexOf('search-country-label'));
    expect(geo.results.every((hit, index, all) => index === 0 || (all[index - 1]?.score ?? 0) >= hit.score)).toBe(true);
    expect(geo).toMatchObject({ page: 1, size: 20 });
    expect(geo.total).toBe(geo.results.length);
  });

  it('requires every term to match', async () => {
    expect((await alice.search({ q: 'country label' })).results.map((hit) => hit.name)).toEqual(['search-country-label']);
    expect((await alice.search({ q: 'zzz-nothing-matches' })).total).toBe(0);
  });

  it('filters by keywords', async () => {
    expect((await alice.search({ keywords: ['export'] })).results.map((hit) => hit.name)).toEqual(['search-s3']);
    expect((await alice.search({ q: 'search', keywords: ['enrich', 'location'] })).results.map((hit) => hit.name)).toEqual(['search-geo']);
  });

  it('pages with a stable total', async () => {
    const all = await alice.search({ q: 'search' });
    expect(all.total).toBe(3);
    const page1 = await alice.search({ q: 'search', size: 2, page: 1 });
    const page2 = await alice.search({ q: 'search', size: 2, page: 2 });
    expect([page1.total, page2.total]).toEqual([3, 3]);
    expect([...page1.results, ...page2.results].map((hit) => hit.name)).toEqual(all.results.map((hit) => hit.name));
  });

  it('answers 400 ERR_BAD_REQUEST for a bad page or size', async () => {
    await expectError(await fetch(url('/api/v1/search?size=0')), 400, 'ERR_BAD_REQUEST');
    await expectError(await fetch(url('/api/v1/search?page=abc')), 400, 'ERR_BAD_REQUEST');
  });
});

describe('tokens', () => {
  it('POST /api/v1/tokens needs a token (401) and valid scopes (400)', async () => {
    expect((await clientError(new RegistryClient({ url: registry.url }).createToken({ scopes: ['read'] }))).code).toBe('ERR_UNAUTHORIZED');
    expect((await clientError(admin.createToken({ scopes: [] }))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(admin.createToken({ scopes: ['root' as 'read'] }))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(admin.createToken({ scopes: ['read'], user: 'admin' }))).code).toBe('ERR_BAD_REQUEST');
    expect((await clientError(admin.createToken({ scopes: ['read'], user: 'Bad User' }))).code).toBe('ERR_BAD_REQUEST');
  });

  it('lets users mint their own tokens with at most their scopes, never for others', async () => {
    const own = await alice.createToken({ scopes: ['publish'], name: 'ci' });
    expect(own).toMatchObject({ user: 'alice', scopes: ['publish'], name: 'ci' });
    expect(own.token).toMatch(/^plg_/);
    expect(await new RegistryClient({ url: registry.url, token: own.token }).whoami()).toEqual({ user: 'alice', admin: false, scopes: ['publish'] });
    expect((await clientError(alice.createToken({ scopes: ['read'], user: 'bob' }))).code).toBe('ERR_FORBIDDEN');
    const reader = new RegistryClient({ url: registry.url, token: readerToken });
    expect((await clientError(reader.createToken({ scopes: ['publish'] }))).code).toBe('ERR_FORBIDDEN');
    expect(await admin.whoami()).toEqual({ user: 'admin', admin: true, scopes: ['read', 'publish'] });
    expect((await clientError(new RegistryClient({ url: registry.url }).whoami())).code).toBe('ERR_UNAUTHORIZED');
  });

  it('revokes tokens: own or by the admin; a revoked token answers 401', async () => {
    const first = await alice.createToken({ scopes: ['publish'] });
    const firstClient = new RegistryClient({ url: registry.url, token: first.token });
    expect((await clientError(bob.revokeToken(first.id))).code).toBe('ERR_FORBIDDEN');
    expect((await alice.revokeToken(first.id)).id).toBe(first.id);
    expect((await clientError(alice.revokeToken(first.id))).code).toBe('ERR_NOT_FOUND');
    expect((await clientError(firstClient.publish(await pack('revoked', '1.0.0'), { name: 'revoked', version: '1.0.0' }))).code).toBe('ERR_UNAUTHORIZED');
    const second = await alice.createToken({ scopes: ['read'] });
    expect((await admin.revokeToken(second.id)).id).toBe(second.id);
    expect((await clientError(new RegistryClient({ url: registry.url, token: second.token }).whoami())).code).toBe('ERR_UNAUTHORIZED');
    await expectError(await fetch(url(`/api/v1/tokens/${aliceTokenId}`), { method: 'DELETE' }), 401, 'ERR_UNAUTHORIZED');
  });

  it('gives every minted token an explicit owner: the admin must name the user, never an implicit "admin"', async () => {
    // The admin token publishes a package: "admin" becomes its maintainer.
    await admin.publish(await pack('admin-owned', '1.0.0'), { name: 'admin-owned', version: '1.0.0' });
    expect((await admin.getPlugin('admin-owned')).maintainers).toEqual(['admin']);
    // Without "user" the admin's mint is refused (it used to become user "admin", able to publish admin-owned).
    const refused = await clientError(admin.createToken({ scopes: ['publish'] }));
    expect(refused.code).toBe('ERR_BAD_REQUEST');
    expect(refused.message).toContain('"user"');
    const minted = await admin.createToken({ user: 'mallory', scopes: ['publish'] });
    expect(minted.user).toBe('mallory');
    const mallory = new RegistryClient({ url: registry.url, token: minted.token });
    expect((await clientError(mallory.publish(await pack('admin-owned', '1.0.1'), { name: 'admin-owned', version: '1.0.1' }))).code).toBe('ERR_FORBIDDEN');
    // A user's own mint without "user" is theirs.
    expect((await alice.createToken({ scopes: ['read'] })).user).toBe('alice');
    // A token an older registry minted as user "admin" is refused outright.
    const legacy = 'plg_legacyadmin0000_legacy-admin-token-secret';
    const { hashToken } = await import('./auth.js');
    await registry.store.createToken({ id: 'legacyadmin0000', hash: hashToken(legacy), user: 'admin', scopes: ['publish'], createdAt: new Date().toISOString(), createdBy: 'admin' });
    const legacyClient = new RegistryClient({ url: registry.url, token: legacy });
    expect((await clientError(legacyClient.whoami())).code).toBe('ERR_UNAUTHORIZED');
    expect((await clientError(legacyClient.publish(await pack('admin-owned', '1.0.2'), { name: 'admin-owned', version: '1.0.2' }))).code).toBe('ERR_UNAUTHORIZED');
    expect(Object.keys((await admin.getPlugin('admin-owned')).versions)).toEqual(['1.0.0']);
  });

  it('never stores a token in the clear', async () => {
    const created = await admin.createToken({ user: 'dave', scopes: ['read'] });
    const record = await registry.store.getToken(created.id);
    expect(record?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(record)).not.toContain(created.token);
  });
});

describe('operations', () => {
  it('GET /metrics exposes request counts and latency histograms by route and status', async () => {
    await fetch(url('/api/v1/plugins/geoip'));
    await fetch(url('/api/v1/plugins/ghost'));
    const response = await fetch(url('/metrics'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/plugline_registry_http_requests_total\{method="GET",route="\/api\/v1\/plugins\/:name",status="200"\} \d+/);
    expect(text).toMatch(/plugline_registry_http_requests_total\{method="GET",route="\/api\/v1\/plugins\/:name",status="404"\} \d+/);
    expect(text).toMatch(/plugline_registry_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/api\/v1\/plugins\/:name",status="200"\} \d+/);
    expect(text).toContain('route="/api/v1/plugins/:name/:version",status="201"');
  });

  it('answers unknown API routes with 404 ERR_NOT_FOUND JSON and /healthz with the engines', async () => {
    await expectError(await fetch(url('/api/v1/nope')), 404, 'ERR_NOT_FOUND');
    expect(await (await fetch(url('/healthz'))).json()).toEqual({ ok: true, store: engine?.store ?? 'sqlite', blobs: engine?.blobs ?? 'fs' });
  });

  it('makes the client throw ERR_REGISTRY_UNREACHABLE when nothing listens', async () => {
    const spare = await startRegistry({ port: 0, dataDir: join(dataDir, 'spare'), logger: pino({ level: 'silent' }) });
    const spareUrl = spare.url;
    await spare.close();
    const error = await clientError(new RegistryClient({ url: spareUrl }).getPlugin('geoip'));
    expect(error.code).toBe('ERR_REGISTRY_UNREACHABLE');
  });

  it('makes the client throw ERR_REGISTRY_RESPONSE for a non-JSON error answer', async () => {
    const error = await clientError(new RegistryClient({ url: `${registry.url}/not-the-api` }).getPlugin('geoip'));
    expect(['ERR_REGISTRY_RESPONSE', 'ERR_NOT_FOUND']).toContain(error.code);
  });
});
