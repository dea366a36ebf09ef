// The console's chain page in a real browser: Debian's Chromium driven by playwright-core, against a
// runtime on port 0 whose chain was set up from a real registry and changed through the live API.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin, readProject, writeProject } from '../project.js';
import { type RunningRuntime, startRuntime } from '../server.js';
import { startTestRegistry, testAdminToken } from '../test/helpers.js';

const artifactsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-results');
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
let running: RunningRuntime;
let dir: string;
let browser: Browser;
const pageErrors: string[] = [];
const consoleErrors: string[] = [];

beforeAll(async () => {
  registry = await startTestRegistry([
    { name: 'enricher', code: 'export default { processEvent(e) { e.properties.enriched = true; return e; } };' },
    // Its error message carries markup: the page must show it as text.
    { name: 'grumpy', code: `export default { processEvent(e) { throw new Error('<img src=x onerror="window.__pwned=1"> refused'); } };` },
    { name: 'hubspot-like', capabilities: ['net:api.hubapi.com'], code: 'export default { processEvent(e) { return e; } };' },
    { name: 'sleeper', code: 'export default { processEvent(e) { return e; } };' },
  ]);
  dir = await mkdtemp(join(tmpdir(), 'plugline-console-'));
  for (const name of ['enricher', 'grumpy', 'sleeper']) await addPlugin(dir, { name, registryUrl: registry.url });
  // Granted in plugins.json by hand, then taken away: it stays in error for want of the grant.
  await addPlugin(dir, { name: 'hubspot-like', registryUrl: registry.url, grants: ['net:api.hubapi.com'] });
  const project = await readProject(dir);
  project.plugins.find((entry) => entry.name === 'hubspot-like')!.grants = [];
  project.plugins.find((entry) => entry.name === 'sleeper')!.enabled = false;
  await writeProject(dir, project);
  running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, schedule: false, logger: pino({ level: 'silent' }) });
  await fetch(`${running.url}/capture`, { method: 'POST', body: JSON.stringify({ event: 'e', distinct_id: 'u' }) });
  await mkdir(artifactsDir, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true });
});

afterAll(async () => {
  await browser?.close();
  await running?.close();
  await registry?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function open(width: number): Promise<Page> {
  // The console is on the management face: the browser sends the admin token (no login page yet).
  const context = await browser.newContext({ viewport: { width, height: 900 }, extraHTTPHeaders: { authorization: `Bearer ${testAdminToken}` } });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  return page;
}

describe('the console chain page in Chromium', () => {
  it('shows the chain in order with status, version, capabilities and last errors (as text), under a strict CSP', async () => {
    const page = await open(1280);
    const response = await page.goto(`${running.url}/console`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    expect(await page.locator('#chain-title').textContent()).toBe('Chain: 4 plugins, 2 running');
    expect(await page.locator('.plugin .name').allTextContents()).toEqual(['enricher', 'grumpy', 'sleeper', 'hubspot-like']);
    expect(await page.locator('.plugin .status').allTextContents()).toEqual(['running', 'running', 'disabled', 'error']);
    const hub = page.locator('[data-plugin="hubspot-like"]');
    expect(await hub.locator('.requested .capability.missing').textContent()).toBe('net:api.hubapi.com (not granted)');
    expect(await hub.locator('.errors code').first().textContent()).toBe('ERR_CAPABILITY_DENIED');
    const grumpy = page.locator('[data-plugin="grumpy"]');
    expect(await grumpy.locator('.error-counts').textContent()).toContain('ERR_PLUGIN_THREW × 1');
    expect(await grumpy.locator('.errors .message').first().textContent()).toContain('<img src=x onerror="window.__pwned=1"> refused');
    expect(await grumpy.locator('.errors img').count()).toBe(0);
    expect(await inPage(page, 'window.__pwned')).toBeUndefined();
    expect(await page.locator('[data-plugin="enricher"] .version').textContent()).toBe('1.0.0');
    await page.screenshot({ path: join(artifactsDir, 'console-chain-desktop.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it('follows live changes and fits a 390 px screen without sideways scrolling', async () => {
    const reordered = await fetch(`${running.url}/api/chain`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${testAdminToken}` },
      body: JSON.stringify({ order: ['hubspot-like', 'sleeper', 'grumpy', 'enricher'] }),
    });
    expect(reordered.status).toBe(200);
    const page = await open(390);
    await page.goto(`${running.url}/console`);
    expect(await page.locator('.plugin .name').allTextContents()).toEqual(['hubspot-like', 'sleeper', 'grumpy', 'enricher']);
    expect(await inPage<number>(page, 'document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(artifactsDir, 'console-chain-390.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
