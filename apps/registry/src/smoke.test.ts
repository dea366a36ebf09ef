import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.js';
import { type RunningRegistry, startRegistry } from './index.js';
import { fixtureManifest, packPlugin } from './testing.js';

describe('smoke', () => {
  let registry: RunningRegistry;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'plugline-registry-'));
    registry = await startRegistry({ port: 0, dataDir, adminToken: 'admin-secret', logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await registry.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  it('publishes, resolves and downloads', async () => {
    const client = new RegistryClient({ url: registry.url, token: 'admin-secret' });
    const tarball = await packPlugin({ manifest: fixtureManifest('hello', '1.0.0') });
    const published = await client.publish(tarball, { name: 'hello', version: '1.0.0' });
    expect(published.integrity).toMatch(/^sha512-/);
    const doc = await client.resolve('hello', '^1');
    expect(doc.version).toBe('1.0.0');
    expect(doc.readme).toContain('Fixture');
    const bytes = await client.download('hello', '1.0.0');
    expect(Buffer.from(bytes).equals(Buffer.from(tarball))).toBe(true);
    const plugin = await client.getPlugin('hello');
    expect(plugin.downloads.total).toBe(1);
  });
});
