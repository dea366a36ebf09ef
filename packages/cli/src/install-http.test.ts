import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { installPlugin } from '@plugline/runtime/install';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReproducibleTarball } from './tarball.js';
import { makeTempDir } from './test-support/fixtures.js';

// `plugline install` resolves and downloads with node:http (installPlugin in @plugline/runtime/install),
// not fetch: these cover what fetch did for it (redirects) and every way the two GETs can fail, against
// a scripted registry.

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let root: string;
let server: Server;
let base: string;
let tarball: Buffer;
let integrity: string;
const routes = new Map<string, Handler>();

const manifest = { name: 'http-probe', version: '1.0.0', main: 'index.js', sdk: '^0.1.0', config: { type: 'object' } };
const doc = (tarballPath: string) => ({ name: manifest.name, version: manifest.version, integrity, tarball: `${base}${tarballPath}` });
const json = (status: number, body: unknown): Handler => (_req, res) => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const resolvePath = `/api/v1/plugins/${manifest.name}/versions/${encodeURIComponent('^1')}`;

beforeAll(async () => {
  root = await makeTempDir('install-http');
  tarball = Buffer.from(
    await createReproducibleTarball([
      { path: 'plugin.json', content: JSON.stringify(manifest) },
      { path: 'index.js', content: 'export function processEvent(event) {\n  return event;\n}\n' },
    ]),
  );
  integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
  server = createServer((req, res) => {
    const handler = routes.get(req.url ?? '');
    if (handler) handler(req, res);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('no route');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set('/t.tgz', (_req, res) => void res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': tarball.length }).end(tarball));
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

async function install(options: { registryUrl?: string; maxTarballBytes?: number } = {}) {
  const cacheDir = path.join(await makeTempDir('install-http-cache'), 'cache');
  const result = installPlugin({ registryUrl: options.registryUrl ?? base, spec: `${manifest.name}@^1`, cacheDir, limits: options.maxTarballBytes ? { maxTarballBytes: options.maxTarballBytes } : {} });
  return { result, cacheDir };
}

describe('installPlugin over node:http', () => {
  it('resolves, follows redirects to the tarball (relative and absolute, as fetch did) and installs', async () => {
    routes.set(resolvePath, json(200, doc('/moved')));
    routes.set('/moved', (_req, res) => void res.writeHead(302, { location: `${base}/moved-again` }).end());
    routes.set('/moved-again', (_req, res) => void res.writeHead(307, { location: '/t.tgz' }).end());
    const { result } = await install({ registryUrl: `${base}/` });
    const installed = await result;
    expect(installed).toMatchObject({ name: manifest.name, version: manifest.version, integrity, resolved: `${base}/moved` });
    expect(installed.code).toContain('processEvent');
    expect(installed.manifest).toEqual(manifest);
  });

  it('gives up after 20 redirects with ERR_REGISTRY_UNREACHABLE', async () => {
    routes.set(resolvePath, json(200, doc('/loop')));
    routes.set('/loop', (_req, res) => void res.writeHead(301, { location: '/loop' }).end());
    const { result } = await install();
    await expect(result).rejects.toMatchObject({ code: 'ERR_REGISTRY_UNREACHABLE', message: expect.stringContaining('too many redirects') });
  });

  it("keeps the registry's own error code and message, as the registry client does", async () => {
    routes.set(resolvePath, json(404, { error: { code: 'ERR_VERSION_NOT_FOUND', message: 'no version of http-probe matches ^1', details: ['1.0.0-beta'] } }));
    const { result } = await install();
    await expect(result).rejects.toMatchObject({ code: 'ERR_VERSION_NOT_FOUND', message: 'no version of http-probe matches ^1', details: ['1.0.0-beta'] });
  });

  it('answers ERR_REGISTRY_RESPONSE for an error that is not the registry API, and for a body that is not JSON', async () => {
    routes.set(resolvePath, (_req, res) => void res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway'));
    await expect((await install()).result).rejects.toMatchObject({ code: 'ERR_REGISTRY_RESPONSE', message: `GET ${resolvePath} answered HTTP 502: bad gateway` });
    routes.set(resolvePath, json(500, { error: { code: 'ERR_NOT_A_CODE', message: 'odd' } }));
    await expect((await install()).result).rejects.toMatchObject({ code: 'ERR_REGISTRY_RESPONSE', message: `GET ${resolvePath} answered HTTP 500: odd` });
    routes.set(resolvePath, (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":'));
    await expect((await install()).result).rejects.toMatchObject({ code: 'ERR_REGISTRY_RESPONSE', message: expect.stringContaining('invalid JSON') });
  });

  it('answers ERR_REGISTRY_UNREACHABLE when nothing listens, and for a URL that is not http(s)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect((await install({ registryUrl: `http://127.0.0.1:${port}` })).result).rejects.toMatchObject({
      code: 'ERR_REGISTRY_UNREACHABLE',
      message: expect.stringMatching(/^The registry at http:\/\/127\.0\.0\.1:\d+ could not be reached: .*ECONNREFUSED/),
    });
    await expect((await install({ registryUrl: 'ftp://127.0.0.1' })).result).rejects.toMatchObject({ code: 'ERR_REGISTRY_UNREACHABLE', message: expect.stringContaining('unsupported protocol ftp:') });
  });

  it('answers ERR_REGISTRY_RESPONSE when the tarball GET fails, writing nothing', async () => {
    routes.set(resolvePath, json(200, doc('/gone.tgz')));
    const { result, cacheDir } = await install();
    await expect(result).rejects.toMatchObject({ code: 'ERR_REGISTRY_RESPONSE', message: `GET ${base}/gone.tgz answered 404` });
    expect(await readdir(cacheDir).catch(() => [])).toEqual([]);
  });

  it('refuses a tarball over the limit by its content-length and, without one, while it streams', async () => {
    routes.set(resolvePath, json(200, doc('/t.tgz')));
    await expect((await install({ maxTarballBytes: 100 })).result).rejects.toMatchObject({ code: 'ERR_TARBALL_TOO_LARGE', message: `the tarball is ${tarball.length} bytes; the limit is 100` });
    routes.set(resolvePath, json(200, doc('/chunked.tgz')));
    routes.set('/chunked.tgz', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/gzip' });
      res.write(tarball.subarray(0, 80));
      res.end(tarball.subarray(80));
    });
    await expect((await install({ maxTarballBytes: 100 })).result).rejects.toMatchObject({ code: 'ERR_TARBALL_TOO_LARGE', message: 'the tarball is larger than the limit of 100 bytes' });
    // Within the limit, the chunked download installs.
    await expect((await install()).result).resolves.toMatchObject({ version: '1.0.0', integrity });
  });
});
