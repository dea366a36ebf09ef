// The marketplace in a real browser: Debian's Chromium driven by playwright-core, against a registry
// started here with plugins published through the typed client.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginManifest } from '@plugline/sdk';
import pino from 'pino';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../client.js';
import { type RunningRegistry, startRegistry } from '../index.js';
import { packPlugin } from '../testing.js';
import { registryPackageRoot } from './assets-dir.js';
import { buildWebAssets } from './build-assets.js';

const adminToken = 'marketplace-admin-token';
const artifactsDir = join(registryPackageRoot, 'test-results');
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const geoConfig = {
  type: 'object',
  properties: {
    datasetUrl: { type: 'string', title: 'Dataset URL', description: 'Where the GeoIP database is downloaded from.', minLength: 1 },
    batchSize: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Lookups per batch.' },
    mode: { enum: ['tag', 'drop', 'ignore'], default: 'tag', description: 'What to do with events from unknown IPs.' },
    apiKey: { type: 'string', writeOnly: true, title: 'API key', description: 'Licence key of the GeoIP service.' },
    anonymize: { type: 'boolean', default: false, description: 'Drop the IP after the lookup.' },
  },
  required: ['datasetUrl', 'apiKey'],
} as const;

// Each line tries a different way to run script from a README; none may survive the sanitizer.
const hostileReadme = `# Geo enricher

Adds **country** and **city** to every event, from the event's IP.

<script>window.__pwned = 'script';</script>

<img src="/missing-image.png" alt="map" onerror="window.__pwned = 'onerror'">

[click me](javascript:window.__pwned='link') and <a href="javascript:window.__pwned='html-link'">this too</a>

<iframe src="javascript:window.top.__pwned='iframe'"></iframe>

| field | example |
| --- | --- |
| country | NL |
`;

// Page-side expressions as strings: this file is type-checked as Node code, without the DOM library.
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;
const activeText = (page: Page) => inPage<string | undefined>(page, 'document.activeElement?.textContent');
const activeId = (page: Page) => inPage<string | undefined>(page, 'document.activeElement?.id');

function manifest(name: string, version: string, extra: Partial<PluginManifest> = {}): PluginManifest {
  return { name, version, main: 'index.js', sdk: '^0.1.0', config: { type: 'object', properties: {} }, ...extra } as PluginManifest;
}

describe('marketplace page in Chromium', () => {
  let registry: RunningRegistry;
  let dataDir: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const refusals: string[] = [];

  beforeAll(async () => {
    await buildWebAssets();
    await mkdir(artifactsDir, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'plugline-marketplace-'));
    registry = await startRegistry({ port: 0, dataDir, adminToken, logger: pino({ level: 'silent' }) });
    const client = new RegistryClient({ url: registry.url, token: adminToken });
    const publish = async (plugin: PluginManifest, readme: string) => {
      const tarball = await packPlugin({ manifest: plugin, files: { 'index.js': 'export default {};\n', 'README.md': readme } });
      await client.publish(tarball, { name: plugin.name, version: plugin.version });
    };
    const geo = { description: 'Adds country and city to events from their IP address', keywords: ['geoip', 'enrich'], license: 'MIT', config: geoConfig };
    await publish(manifest('geo-enricher', '1.0.0', geo), '# Geo enricher 1.0\n');
    await publish(manifest('geo-enricher', '1.1.0', geo), hostileReadme);
    await client.deprecate('geo-enricher', '1.0.0', 'Lookups fail for IPv6; use 1.1.0');
    await publish(
      manifest('@acme/utm-labeler', '0.2.0', { description: 'Labels events with their UTM campaign', keywords: ['utm', 'label'] }),
      '# UTM labeler\n',
    );
    await publish(manifest('s3-export', '2.0.0', { description: 'Exports event batches to S3 buckets', keywords: ['export', 's3'] }), '# S3\n');
    await client.download('geo-enricher', '1.1.0');
    // Enough plugins for a second page of results (20 a page).
    await Promise.all(
      Array.from({ length: 21 }, (_, index) =>
        publish(manifest(`filler-${String(index).padStart(2, '0')}`, '1.0.0', { description: 'Padding for pagination', keywords: ['filler'] }), '# Filler\n'),
      ),
    );

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.text().includes('Refused to')) refusals.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await registry?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('finds a plugin while typing in the search box, and the keyboard reaches the results', async () => {
    await page.goto(`${registry.url}/`);
    expect(await page.locator('#results .result').count()).toBe(20);
    expect(await page.locator('#results-status').textContent()).toBe('24 plugins, showing 1–20.');
    await page.locator('#q').pressSequentially('geo', { delay: 20 });
    // Wait for the answer to the whole query (a slow machine may also search for "g" or "ge" on the way).
    await expect.poll(() => page.locator('#results-status').textContent()).toBe('1 plugin matching “geo”.');
    expect(await page.locator('#results .result').count()).toBe(1);
    const hit = page.locator('#results .result').first();
    expect(await hit.locator('.result-name a').textContent()).toBe('geo-enricher');
    expect(await hit.locator('.version').textContent()).toBe('v1.1.0');
    expect(await hit.locator('.description').textContent()).toContain('country and city');
    expect(await hit.locator('.keywords li').allTextContents()).toEqual(['geoip', 'enrich']);
    expect(await hit.locator('.downloads').textContent()).toBe('1 download');
    expect(new URL(page.url()).searchParams.get('q')).toBe('geo');

    // Down arrow from the box, and plain Tab order (box, button, first result), both land on the result.
    await page.locator('#q').focus();
    await page.keyboard.press('ArrowDown');
    expect(await activeText(page)).toBe('geo-enricher');
    await page.keyboard.press('ArrowUp');
    expect(await activeId(page)).toBe('q');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await inPage(page, "document.activeElement?.getAttribute('href')")).toBe('/plugins/geo-enricher');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/plugins/geo-enricher');
    expect(await page.locator('h1').textContent()).toBe('geo-enricher');

    // Paging: the next-page link loads in place and keeps the query.
    await page.goto(`${registry.url}/`);
    await page.locator('#q').fill('filler');
    await expect.poll(() => page.locator('#results-status').textContent()).toBe('21 plugins matching “filler”, showing 1–20.');
    await page.locator('#pager a[rel="next"]').click();
    await expect.poll(() => page.locator('#results-status').textContent()).toBe('21 plugins matching “filler”, showing 21–21.');
    expect(await page.locator('#results .result-name a').allTextContents()).toEqual(['filler-20']);
    expect(new URL(page.url()).search).toBe('?q=filler&page=2');
    await expect.poll(() => activeText(page)).toBe('filler-20');
    expect(await page.locator('#pager a').allTextContents()).toEqual(['Previous page']);

    await page.locator('#q').fill('no-such-plugin-anywhere');
    await expect.poll(() => page.locator('#results-status').textContent()).toBe('No plugins match “no-such-plugin-anywhere”.');
    expect(await page.locator('#results .result').count()).toBe(0);
  });

  it('shows versions with dates, the deprecation, dist-tags, install command, downloads and the README without running its scripts', async () => {
    const response = await page.goto(`${registry.url}/plugins/geo-enricher`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    const { versions } = await new RegistryClient({ url: registry.url }).getPlugin('geo-enricher');
    const published = (version: string) => versions[version]?.publishedAt ?? 'missing';

    const rows = page.locator('table.versions tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).locator('th a').textContent()).toBe('1.1.0');
    expect(await rows.nth(0).locator('th .version-status').textContent()).toBe('latest');
    expect(await rows.nth(0).locator('td').nth(0).textContent()).toBe(published('1.1.0').slice(0, 10));
    expect(await rows.nth(0).locator('td').nth(1).textContent()).toBe('1');
    expect(await rows.nth(1).locator('th a').textContent()).toBe('1.0.0');
    expect(await rows.nth(1).locator('th .version-status').textContent()).toBe('deprecated Lookups fail for IPv6; use 1.1.0');
    expect(await rows.nth(1).locator('time').getAttribute('datetime')).toBe(published('1.0.0'));
    expect(await rows.nth(1).locator('td').nth(1).textContent()).toBe('0');
    expect(await page.locator('#install-command').textContent()).toBe('plugline install geo-enricher@1.1.0');
    expect(await page.locator('section[aria-labelledby="tags-heading"] dd').allTextContents()).toEqual(['1.1.0']);
    expect(await page.locator('svg.chart title').first().textContent()).toMatch(/^1 download from .* to /);
    expect(await page.locator('.chart-caption').textContent()).toBe('1 download in the last 30 days · 1 download in all');

    const readme = page.locator('.readme');
    expect(await readme.locator('h3').textContent()).toBe('Geo enricher');
    expect(await readme.locator('strong').first().textContent()).toBe('country');
    expect(await readme.locator('table td').first().textContent()).toBe('country');
    expect(await readme.locator('script, iframe, [onerror]').count()).toBe(0);
    const links = await readme.locator('a').evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href')));
    expect(links).toEqual([null, null]);
    // Give an onerror handler, had it survived, the time to fire on the missing image.
    await page.waitForLoadState('networkidle');
    await readme.getByText('click me').click();
    await readme.getByText('this too').click();
    expect(await inPage(page, 'window.__pwned')).toBeUndefined();

    // An older version's page says it is deprecated and not the latest.
    await page.goto(`${registry.url}/plugins/geo-enricher?version=1.0.0`);
    expect(await page.locator('.notice').allTextContents()).toEqual([
      'Deprecated: version 1.0.0 is deprecated: Lookups fail for IPv6; use 1.1.0',
      'You are viewing version 1.0.0. The latest version is 1.1.0.',
    ]);
    expect(await page.locator('#install-command').textContent()).toBe('plugline install geo-enricher@1.0.0');
  });

  it('renders the config schema as a form that rejects invalid input and produces the config JSON', async () => {
    await page.goto(`${registry.url}/plugins/geo-enricher`);
    const form = page.locator('#config-form');
    const field = (key: string) => form.locator(`[data-config-key="${key}"]`);
    expect(await field('datasetUrl').getAttribute('type')).toBe('text');
    expect(await field('datasetUrl').getAttribute('aria-required')).toBe('true');
    expect(await form.locator('label[for="cfg-0"]').textContent()).toBe('Dataset URL * (required)');
    expect(await form.locator('#cfg-0-hint').textContent()).toContain('Where the GeoIP database is downloaded from.');
    expect(await field('batchSize').getAttribute('type')).toBe('number');
    expect(await field('batchSize').getAttribute('min')).toBe('1');
    expect(await field('batchSize').inputValue()).toBe('100');
    expect(await field('mode').evaluate((select) => select.tagName)).toBe('SELECT');
    expect(await field('mode').locator('option').allTextContents()).toEqual(['(not set)', 'tag', 'drop', 'ignore']);
    expect(await field('mode').inputValue()).toBe('"tag"');
    expect(await field('apiKey').getAttribute('type')).toBe('password');
    expect(await field('anonymize').getAttribute('type')).toBe('checkbox');

    // Invalid: the required URL left empty and a batch size below the minimum.
    await field('apiKey').fill('sk-live-123');
    await field('batchSize').fill('0');
    await form.getByRole('button', { name: 'Validate config' }).click();
    await expect.poll(() => page.locator('#config-status').textContent()).toBe('Not valid: fix the problems above.');
    expect(await page.locator('#cfg-1-error').isVisible()).toBe(true);
    expect(await page.locator('#cfg-1-error').textContent()).toBe('batchSize must be >= 1');
    expect(await page.locator('#cfg-0-error').textContent()).toBe('Dataset URL is required');
    expect(await field('batchSize').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#config-errors').isVisible()).toBe(true);
    expect(await page.locator('#config-errors li').count()).toBe(2);
    expect(await activeId(page)).toBe('config-errors');
    expect(await page.locator('#config-json').textContent()).toBe('');
    await page.locator('#config-errors a', { hasText: 'batchSize' }).click();
    expect(await activeId(page)).toBe('cfg-1');

    // Valid: errors clear as the fields are fixed; defaults are applied and the secret is masked.
    await field('datasetUrl').fill('https://geo.example.com/db.mmdb');
    await field('batchSize').fill('250');
    await field('mode').selectOption('"drop"');
    await form.getByRole('button', { name: 'Validate config' }).click();
    await expect.poll(() => page.locator('#config-status').textContent()).toBe('Valid: this config matches the plugin’s schema.');
    expect(await page.locator('#config-errors').isVisible()).toBe(false);
    expect(await page.locator('#cfg-1-error').isVisible()).toBe(false);
    expect(await field('batchSize').getAttribute('aria-invalid')).toBeNull();
    const masked = JSON.parse((await page.locator('#config-json').textContent()) ?? '');
    expect(masked).toEqual({ datasetUrl: 'https://geo.example.com/db.mmdb', batchSize: 250, mode: 'drop', apiKey: '********', anonymize: false });
    expect(await page.locator('#config-copy').isVisible()).toBe(true);
    expect(await form.locator('.config-result .hint').textContent()).toBe(
      'Save it as config.json, then: plugline install geo-enricher@1.1.0 --config config.json',
    );
    await page.locator('#config-reveal').check();
    await expect.poll(async () => JSON.parse((await page.locator('#config-json').textContent()) ?? '{}').apiKey).toBe('sk-live-123');

    await page.screenshot({ path: join(artifactsDir, 'marketplace-plugin.png'), fullPage: true });
  });

  it('serves scoped plugins, 404s unknown ones, and fits a narrow screen', async () => {
    const encoded = await page.goto(`${registry.url}/plugins/${encodeURIComponent('@acme/utm-labeler')}`);
    expect(encoded?.status()).toBe(200);
    expect(await page.locator('h1').textContent()).toBe('@acme/utm-labeler');
    expect(await page.locator('#config-form').textContent()).toContain('This plugin takes no configuration.');
    await page.goto(`${registry.url}/plugins/@acme/utm-labeler`);
    expect(await page.locator('#install-command').textContent()).toBe('plugline install @acme/utm-labeler@0.2.0');
    const missing = await page.goto(`${registry.url}/plugins/nope`);
    expect(missing?.status()).toBe(404);
    expect(await page.locator('main').textContent()).toContain('There is no plugin named “nope”.');

    const phone = await context.newPage();
    try {
      await phone.setViewportSize({ width: 375, height: 800 });
      for (const path of ['/?q=export', '/plugins/geo-enricher']) {
        await phone.goto(`${registry.url}${path}`);
        const overflow = await inPage<number>(phone, 'document.documentElement.scrollWidth - document.documentElement.clientWidth');
        expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
      }
      await phone.screenshot({ path: join(artifactsDir, 'marketplace-plugin-narrow.png'), fullPage: true });
      await phone.goto(`${registry.url}/?q=export`);
      expect(await phone.locator('#results .result-name a').textContent()).toBe('s3-export');
      await phone.screenshot({ path: join(artifactsDir, 'marketplace-search-narrow.png') });
    } finally {
      await phone.close();
    }
    await page.goto(`${registry.url}/`);
    await page.screenshot({ path: join(artifactsDir, 'marketplace-home.png') });

    expect(pageErrors).toEqual([]);
    expect(refusals).toEqual([]);
  });
});
