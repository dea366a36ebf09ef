// The console in a real browser: Debian's Chromium driven by playwright-core, against a runtime on
// port 0 whose plugins come from a real registry, and a real HTTP receiver for the exporter. Through
// the pages only: sign in, install a plugin from the registry and configure it with the generated
// form, reconfigure it (secrets write-only), reorder, send an event and see its effect, run the event
// tester, re-drive a dead letter. Screenshots at 1280 and 390 px go to test-results/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin, readProject, writeProject } from '../project.js';
import { type RunningRuntime, startRuntime } from '../server.js';
import { fixtures } from '../test/fixtures.js';
import { adminFetch, startReceiver, startTestRegistry, testAdminToken, waitFor } from '../test/helpers.js';

const artifactsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-results');
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

const labelerConfig = {
  type: 'object',
  properties: {
    label: { type: 'string', title: 'Label', minLength: 1, description: 'Set as the label property of every event' },
    rules: {
      type: 'array',
      title: 'Rules',
      items: { type: 'object', title: 'Rule', properties: { property: { type: 'string', title: 'Property' }, equals: { type: 'string', title: 'Equals' } }, required: ['property'] },
    },
    apiKey: { type: 'string', title: 'API key', writeOnly: true },
  },
  required: ['label', 'apiKey'],
} as const;

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let receiverStatus = 400;
let running: RunningRuntime;
let dir: string;
let browser: Browser;
let desktop: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const consoleErrors: string[] = [];

beforeAll(async () => {
  receiver = await startReceiver(() => receiverStatus);
  registry = await startTestRegistry([
    { name: 'enricher', code: 'export default { processEvent(e) { e.properties.enriched = true; return e; } };' },
    // Its error message carries markup: the pages must show it as text.
    { name: 'grumpy', code: `export default { processEvent(e) { throw new Error('<img src=x onerror="window.__pwned=1"> refused'); } };` },
    { name: 'hubspot-like', capabilities: ['net:api.hubapi.com'], code: 'export default { processEvent(e) { return e; } };' },
    { name: 'sleeper', code: 'export default { processEvent(e) { return e; } };' },
    // Refused batches (a 4xx) are dead letters at once: what the exports page re-drives.
    fixtures.exporter,
    {
      name: 'labeler',
      config: labelerConfig,
      code: `export default { processEvent(e, { config }) {
        e.properties.label = config.label;
        e.properties.rules = config.rules ? config.rules.map((rule) => rule.property + '=' + (rule.equals ?? '')) : [];
        e.properties.keyLength = config.apiKey.length;
        return e;
      } };`,
    },
  ]);
  dir = await mkdtemp(join(tmpdir(), 'plugline-console-'));
  for (const name of ['enricher', 'grumpy', 'sleeper']) await addPlugin(dir, { name, registryUrl: registry.url });
  await addPlugin(dir, { name: 'exporter', registryUrl: registry.url, config: { url: `${receiver.url}/in` }, grants: ['net:127.0.0.1'] });
  // Granted in plugins.json by hand, then taken away: it stays in error for want of the grant.
  await addPlugin(dir, { name: 'hubspot-like', registryUrl: registry.url, grants: ['net:api.hubapi.com'] });
  const project = await readProject(dir);
  project.plugins.find((entry) => entry.name === 'hubspot-like')!.grants = [];
  project.plugins.find((entry) => entry.name === 'sleeper')!.enabled = false;
  await writeProject(dir, project);
  running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, schedule: false, exportTickMs: 20, logger: pino({ level: 'silent' }) });
  await mkdir(artifactsDir, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true });
  desktop = await watched(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  page = await desktop.newPage();
  // A missing element fails its step with the locator named, well before the test's own timeout.
  desktop.setDefaultTimeout(8000);
});

afterAll(async () => {
  await browser?.close();
  await running?.close();
  await registry?.close();
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function watched(context: BrowserContext): Promise<BrowserContext> {
  context.on('page', (opened) => {
    opened.on('pageerror', (error) => pageErrors.push(error.message));
    // CSP violations and failed loads are console errors.
    opened.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
  });
  return context;
}

const shot = (target: Page, name: string) => target.screenshot({ path: join(artifactsDir, `console-${name}.png`), fullPage: true });
const names = (target: Page) => target.locator('.plugin .name').allTextContents();
const storedEvents = async () => ((await (await adminFetch(`${running.url}/api/events?limit=1000`)).json()) as { events: { uuid: string; properties: Record<string, unknown> }[] }).events;

describe('the console in Chromium', () => {
  it('signs in through the login page (the token never in a URL; the cookie HttpOnly and SameSite=Strict)', async () => {
    const response = await page.goto(`${running.url}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    await page.getByLabel('Admin token').fill('certainly-not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.locator('#login-error').textContent()).toContain('not the admin token');
    // The refusal is a 401, which Chromium reports on the console: that one, and nothing else, so far.
    expect(consoleErrors.splice(0)).toEqual(['Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    await page.getByLabel('Admin token').fill(testAdminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${running.url}/console`);
    expect(page.url()).not.toContain(testAdminToken);
    const [cookie] = await desktop.cookies();
    expect(cookie).toMatchObject({ name: 'plugline_console', httpOnly: true, sameSite: 'Strict', path: '/console' });
    expect(cookie?.value).not.toContain(testAdminToken);
    expect(await page.locator('#chain-title').textContent()).toBe('Chain: 5 plugins, 3 running');
    expect(await names(page)).toEqual(['enricher', 'grumpy', 'sleeper', 'exporter', 'hubspot-like']);
    expect(await page.locator('.plugin .status').allTextContents()).toEqual(['running', 'running', 'disabled', 'running', 'error']);
    expect(await page.locator('[data-plugin="hubspot-like"] .requested .capability.missing').textContent()).toBe('net:api.hubapi.com (not granted)');
    await shot(page, 'chain-desktop');
  });

  it('installs a plugin from the registry: search, pick, configure with the form (validated in the browser), place it', async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Install' }).click();
    await page.getByLabel('Search').fill('label');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('.hit[data-plugin="labeler"] a').click();
    await page.waitForURL(/\/console\/install\/labeler/);
    await shot(page, 'install-desktop');
    // An empty required label is caught in the browser: the form is not sent.
    await page.getByLabel('API key').fill('k-123456');
    await page.getByRole('button', { name: /^Install labeler/ }).click();
    await expect.poll(() => page.locator('.field-error').count()).toBeGreaterThan(0);
    expect(new URL(page.url()).pathname).toBe('/console/install/labeler');
    expect(((await (await adminFetch(`${running.url}/api/plugins`)).json()) as { plugins: { name: string }[] }).plugins.map((plugin) => plugin.name)).not.toContain('labeler');
    // An array of objects is edited as fields: add a row and fill it.
    await page.getByRole('button', { name: /Add/ }).first().click();
    await page.locator('input[name="config.rules.0.property"]').fill('plan');
    await page.locator('input[name="config.rules.0.equals"]').fill('pro');
    await page.locator('input[name="config.label"]').fill('vip');
    await page.getByLabel('Position').selectOption({ index: 0 });
    await page.getByRole('button', { name: /^Install labeler/ }).click();
    await page.waitForURL(`${running.url}/console`);
    expect(await page.locator('.flash-ok').textContent()).toBe('labeler 1.0.0 installed at position 1');
    expect(await names(page)).toEqual(['labeler', 'enricher', 'grumpy', 'sleeper', 'exporter', 'hubspot-like']);
    const project = await readProject(dir);
    // Saved with npm's default range for the latest version, so `plugline update` moves within it.
    expect(project.plugins[0]).toMatchObject({ name: 'labeler', spec: '^1.0.0', config: { label: 'vip', rules: [{ property: 'plan', equals: 'pro' }], apiKey: 'k-123456' } });
  });

  it('reconfigures it on its page: the secret is never sent back to the browser and is kept when left empty', async () => {
    await page.locator('[data-plugin="labeler"] a.name').click();
    await page.waitForURL(/\/console\/plugins\/labeler$/);
    expect(await page.getByLabel('API key').inputValue()).toBe('');
    expect(await page.content()).not.toContain('k-123456');
    await page.locator('input[name="config.label"]').fill('gold');
    await page.getByRole('button', { name: 'Save config' }).click();
    await page.waitForURL(/\/console\/plugins\/labeler$/);
    expect(await page.locator('.flash-ok').textContent()).toContain('Config of labeler saved');
    expect((await readProject(dir)).plugins[0]?.config).toEqual({ label: 'gold', rules: [{ property: 'plan', equals: 'pro' }], apiKey: 'k-123456' });
  });

  it('reorders the chain with its controls', async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Chain' }).click();
    await page.getByRole('button', { name: 'Move labeler down' }).click();
    await page.waitForURL(`${running.url}/console`);
    expect(await page.locator('.flash-ok').textContent()).toBe('labeler moved to position 2');
    expect(await names(page)).toEqual(['enricher', 'labeler', 'grumpy', 'sleeper', 'exporter', 'hubspot-like']);
    expect((await readProject(dir)).plugins.map((entry) => entry.name)).toEqual(['enricher', 'labeler', 'grumpy', 'sleeper', 'exporter', 'hubspot-like']);
  });

  it('shows an event’s effect: stored with the label, counted in the plugin’s metrics, its error shown as text', async () => {
    const sent = await fetch(`${running.url}/capture`, { method: 'POST', body: JSON.stringify({ event: 'signup', distinct_id: 'u-1', properties: { plan: 'pro' } }) });
    expect(sent.status).toBe(200);
    const [event] = await waitFor(async () => {
      const events = await storedEvents();
      return events.length > 0 ? events : undefined;
    });
    expect(event?.properties).toMatchObject({ enriched: true, label: 'gold', rules: ['plan=pro'], keyLength: 8 });
    await page.goto(`${running.url}/console/plugins/labeler`);
    expect(await page.locator('[data-metric="eventsIn"]').textContent()).toBe('1');
    expect(await page.locator('[data-metric="eventsOut"]').textContent()).toBe('1');
    expect(await page.locator('[data-metric="p50"]').textContent()).toMatch(/ms$/);
    await shot(page, 'plugin-desktop');
    await page.goto(`${running.url}/console/plugins/grumpy`);
    expect(await page.locator('[data-metric="failed"]').textContent()).toBe('1');
    expect(await page.locator('.errors-by-code').textContent()).toContain('ERR_PLUGIN_THREW');
    expect(await page.locator('.error-list .message').first().textContent()).toContain('<img src=x onerror="window.__pwned=1"> refused');
    expect(await page.locator('.error-list img').count()).toBe(0);
    expect(await inPage(page, 'window.__pwned')).toBeUndefined();
  });

  it('runs the event tester: each step as a diff, nothing stored', async () => {
    const before = (await storedEvents()).length;
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Event tester' }).click();
    await page.getByLabel('Event (JSON, as a client would capture it)').fill(JSON.stringify({ event: 'trial', distinct_id: 'u-2', properties: { plan: 'free' } }));
    await page.getByRole('button', { name: 'Run dry run' }).click();
    await page.locator('.dry-run').waitFor();
    const status = (plugin: string) => page.locator(`.step[data-step="${plugin}"] .status`).textContent();
    expect(await status('enricher')).toBe('changed');
    expect(await status('labeler')).toBe('changed');
    expect(await status('grumpy')).toBe('failed');
    expect(await status('sleeper')).toBe('skipped');
    expect(await page.locator('.step[data-step="labeler"] .diff-added').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('"label": "gold"')]));
    expect(await page.locator('.step[data-step="grumpy"] .error .message').textContent()).toContain('<img src=x');
    expect(await page.locator('.exports').textContent()).toContain('exporter');
    await shot(page, 'tester-desktop');
    expect((await storedEvents()).length).toBe(before);
  });

  it('re-drives a dead letter from the exports page once the receiver is back', async () => {
    // The receiver refused the event's batch (400): it became a dead letter.
    await running.runtime.flushExports();
    await waitFor(() => running.runtime.store.deadLetters().length === 1);
    const [letter] = running.runtime.store.deadLetters();
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Exports' }).click();
    expect(await page.locator(`[data-dead-letter="${letter!.id}"]`).textContent()).toContain('receiver rejected the batch with 400');
    expect(await page.locator('[data-plugin="exporter"] [data-metric="dead-letters"]').textContent()).toBe('1');
    await shot(page, 'exports-desktop');
    receiverStatus = 200;
    await page.getByRole('button', { name: `Re-drive dead letter ${letter!.id}` }).click();
    await page.waitForURL(`${running.url}/console/exports`);
    expect(await page.locator('.flash-ok').textContent()).toContain(`Dead letter ${letter!.id} re-driven`);
    const [stored] = await storedEvents();
    await waitFor(() => receiver.received.some((request) => request.status === 200 && (request.body as string[]).includes(stored!.uuid)));
    await page.reload();
    expect(await page.locator('[data-dead-letter]').count()).toBe(0);
  });

  it('fits a 390 px screen on every page without sideways scrolling', async () => {
    const phone = await watched(await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await desktop.storageState() }));
    const small = await phone.newPage();
    for (const [name, path] of [
      ['chain', '/console'],
      ['plugin', '/console/plugins/labeler'],
      ['install', '/console/install/labeler'],
      ['exports', '/console/exports'],
      ['tester', '/console/tester'],
    ] as const) {
      const response = await small.goto(`${running.url}${path}`);
      expect([path, response?.status()]).toEqual([path, 200]);
      const width = await inPage<number>(small, 'document.documentElement.scrollWidth');
      expect([path, width <= 390]).toEqual([path, true]);
      await shot(small, `${name}-390`);
    }
    await phone.close();
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
