import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteMetadataStore } from '../store/sqlite.js';
import { fixtureManifest } from '../testing.js';
import { createWebRouter } from './index.js';

// The web router on its own, over a real embedded store: what it answers besides the happy paths the
// browser test covers.
describe('web router', () => {
  let dataDir: string;
  let store: SqliteMetadataStore;
  const servers: Server[] = [];
  let openUrl: string;
  let privateUrl: string;

  const listen = async (app: express.Express): Promise<string> => {
    const server = app.listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise<void>((resolve) => server.once('listening', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'plugline-web-router-'));
    store = new SqliteMetadataStore(dataDir);
    await store.publishVersion(
      {
        name: 'secret-plugin',
        version: '1.0.0',
        integrity: 'sha512-AAAA',
        size: 10,
        manifest: fixtureManifest('secret-plugin', '1.0.0'),
        readme: '# Internal notes',
        publishedAt: new Date().toISOString(),
      },
      'secret-plugin',
      { user: 'admin', admin: true },
    );
    openUrl = await listen(express().use('/', createWebRouter({ store, assetsDir: join(dataDir, 'no-assets') })));
    privateUrl = await listen(express().use('/', createWebRouter({ store, private: true })));
  });

  afterAll(async () => {
    for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('renders pages without built assets (unstyled, but usable)', async () => {
    const response = await fetch(`${openUrl}/plugins/secret-plugin`);
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('<h1>secret-plugin</h1>');
    expect(page).toContain('<h3>Internal notes</h3>');
    expect(page).not.toContain('/assets/');
  });

  it('answers unknown versions, plugins, pages and assets with 404', async () => {
    const version = await fetch(`${openUrl}/plugins/secret-plugin?version=9.9.9`);
    expect(version.status).toBe(404);
    expect(await version.text()).toContain('secret-plugin has no version or dist-tag “9.9.9”.');
    expect((await fetch(`${openUrl}/plugins/nope`)).status).toBe(404);
    const page = await fetch(`${openUrl}/no/such/page`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toContain('text/html');
    const asset = await fetch(`${openUrl}/assets/app-NOPE.js`);
    expect(asset.status).toBe(404);
    expect(asset.headers.get('content-type')).toContain('text/plain');
  });

  it('sends a content security policy that forbids inline script on every page', async () => {
    for (const path of ['/', '/plugins/secret-plugin', '/plugins/nope']) {
      const policy = (await fetch(`${openUrl}${path}`)).headers.get('content-security-policy') ?? '';
      expect(policy).toMatch(/script-src 'self'( 'unsafe-eval')?;/);
      expect(policy).toContain("object-src 'none'");
      expect(policy).toContain("frame-ancestors 'none'");
    }
  });

  it('shows nothing of a private registry', async () => {
    for (const path of ['/', '/?q=secret', '/plugins/secret-plugin']) {
      const response = await fetch(`${privateUrl}${path}`);
      expect(response.status).toBe(403);
      const page = await response.text();
      expect(page).toContain('This registry is private');
      expect(page).not.toContain('secret-plugin');
    }
  });
});
