// Test helpers: fixture plugins packed as real tarballs and published to a real registry.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import type { ConfigSchema } from '@plugline/sdk';
import { pino } from 'pino';
import * as tar from 'tar';

export interface FixturePlugin {
  name: string;
  version?: string;
  code: string;
  config?: ConfigSchema;
  sdk?: string;
  capabilities?: string[];
}

/** Packs a fixture the way `plugline pack` does: gzip tar, top folder `package/`, plugin.json + main. */
export async function packFixture(fixture: FixturePlugin): Promise<Uint8Array> {
  const work = await mkdtemp(join(tmpdir(), 'plugline-fixture-'));
  try {
    await mkdir(join(work, 'package', 'dist'), { recursive: true });
    const manifest = {
      name: fixture.name,
      version: fixture.version ?? '1.0.0',
      main: 'dist/index.js',
      sdk: fixture.sdk ?? '>=0.1.0',
      config: fixture.config ?? { type: 'object', properties: {} },
      ...(fixture.capabilities ? { capabilities: fixture.capabilities } : {}),
    };
    await writeFile(join(work, 'package', 'plugin.json'), JSON.stringify(manifest, null, 2));
    await writeFile(join(work, 'package', 'dist', 'index.js'), fixture.code);
    const chunks: Buffer[] = [];
    const stream = tar.c({ gzip: true, cwd: work, portable: true }, ['package']);
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
    return new Uint8Array(Buffer.concat(chunks));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A real registry on port 0 with the fixtures published. */
export async function startTestRegistry(fixtures: FixturePlugin[]) {
  const dataDir = await mkdtemp(join(tmpdir(), 'plugline-registry-'));
  const registry = await startRegistry({ port: 0, dataDir, adminToken: 'test-admin', logger: pino({ level: 'silent' }) });
  const client = new RegistryClient({ url: registry.url, token: 'test-admin' });
  for (const fixture of fixtures) await client.publish(await packFixture(fixture), { name: fixture.name, version: fixture.version ?? '1.0.0' });
  return {
    url: registry.url,
    client,
    async close() {
      await registry.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** An HTTP receiver that records JSON bodies; `respond` picks the status per request. */
export async function startReceiver(respond: (count: number) => number = () => 200) {
  const received: { status: number; body: unknown }[] = [];
  let count = 0;
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    count += 1;
    const status = respond(count);
    received.push({ status, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') });
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Waits until `check` returns a truthy value (polling), or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The admin token the runtime tests start their runtimes with (management routes need it). */
export const testAdminToken = 'test-runtime-admin-token';

/** `fetch` with `Authorization: Bearer <token>` (default {@link testAdminToken}): a management call. */
export function adminFetch(url: string, init: RequestInit = {}, token = testAdminToken): Promise<Response> {
  return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` } });
}
