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

// A README like the ones that broke words in the middle ("defaul t", "boole an"): a wide options table
// and a code block with a line longer than any screen.
const optionsReadme = `# Config docs

| Option | Type | Default | Required | Description |
| --- | --- | --- | --- | --- |
| \`datasetUrl\` | string | none | yes | Where the GeoIP database is downloaded from, refreshed every day at midnight UTC by the runtime. |
| \`batchSize\` | integer | 100 | no | How many lookups are sent to the service in one request; larger batches are faster but use more memory. |
| \`anonymize\` | boolean | default | no | Whether the IP address is dropped from the event after the lookup, so it is never stored downstream. |

\`\`\`sh
plugline install config-docs@1.0.0 --config ./a/very/long/path/to/a/config/file/that/does/not/fit/on/any/phone/screen/config.json --allow-net api.example.com:443
\`\`\`
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
  // Every console error (a failed favicon request is one), except the hostile README's deliberately missing image.
  const consoleErrors: string[] = [];
  const watch = (target: Page) => {
    target.on('console', (message) => {
      // (A 404 page's own status is reported too: the tests visit those on purpose.)
      const source = message.location().url;
      if (message.type() === 'error' && !source.endsWith('/missing-image.png') && source !== target.url()) consoleErrors.push(`${target.url()}: ${message.text()} ${message.location().url}`);
    });
    target.on('response', (response) => {
      if (response.status() >= 400 && !response.url().endsWith('/missing-image.png') && response.request().resourceType() !== 'document') consoleErrors.push(`${response.status()} ${response.url()}`);
    });
  };

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

    // Published last: the newest, for the "recently published" order.
    await publish(
      manifest('config-docs', '1.0.0', {
        description: 'Documents its options in a table',
        keywords: ['docs'],
        repository: 'git+https://github.com/acme/config-docs',
        homepage: 'https://docs.example.com/config-docs',
      }),
      optionsReadme,
    );

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    watch(page);
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
    expect(await page.locator('#results-status').textContent()).toBe('25 plugins, showing 1–20.');
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

    // Down arrow from the box, and plain Tab order (box, button, sort, first result), both land on the result.
    await page.locator('#q').focus();
    await page.keyboard.press('ArrowDown');
    expect(await activeText(page)).toBe('geo-enricher');
    await page.keyboard.press('ArrowUp');
    expect(await activeId(page)).toBe('q');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await activeId(page)).toBe('sort');
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
  it('links the favicon, scrolls wide README tables and code instead of breaking words, and shows repository, weekly downloads and last published', async () => {
    // The icon every page links to is served as SVG, and /favicon.ico leads to it.
    await page.goto(`${registry.url}/plugins/config-docs`);
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toBe('/favicon.svg');
    const icon = await fetch(`${registry.url}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.url).toBe(`${registry.url}/favicon.svg`);
    expect(icon.headers.get('content-type')).toContain('image/svg+xml');
    expect(await icon.text()).toContain('<svg');

    // Facts: repository and homepage links, weekly downloads, last published (relative and absolute).
    expect(await page.locator('#repository-link').getAttribute('href')).toBe('https://github.com/acme/config-docs');
    expect(await page.locator('#homepage-link').getAttribute('href')).toBe('https://docs.example.com/config-docs');
    expect(await page.locator('#weekly-downloads').textContent()).toBe('0');
    const { versions } = await new RegistryClient({ url: registry.url }).getPlugin('config-docs');
    const publishedAt = versions['1.0.0']?.publishedAt ?? 'missing';
    expect(await page.locator('#last-published time').getAttribute('datetime')).toBe(publishedAt);
    expect(await page.locator('#last-published').textContent()).toMatch(
      new RegExp(`^(just now|\\d+ minutes? ago) \\(${publishedAt.slice(0, 10)} ${publishedAt.slice(11, 16)} UTC\\)$`),
    );
    await page.goto(`${registry.url}/plugins/geo-enricher`);
    expect(await page.locator('#weekly-downloads').textContent()).toBe('1');
    expect(await page.locator('#repository-link').count()).toBe(0);

    // One-word cells ("default", "boolean", "integer") stay on one line; the wide table and the long
    // command scroll in their own box; the page itself never scrolls sideways.
    const layoutOf = (target: Page) =>
      inPage<{ splitCells: string[]; tableOverflow: string; tableScrolls: boolean; preOverflow: string; preScrolls: boolean; pageOverflow: number }>(
        target,
        `(() => {
          // The most lines any one text node of the cell is laid out on (a word split in two takes two).
          const lines = (cell) => {
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            let most = 0;
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              const range = document.createRange();
              range.selectNodeContents(node);
              most = Math.max(most, new Set(Array.from(range.getClientRects()).filter((r) => r.width > 0).map((r) => Math.round(r.top))).size);
            }
            return most;
          };
          const cells = Array.from(document.querySelectorAll('.readme td, .readme th')).filter((cell) => !/\\s/.test(cell.textContent.trim()));
          const box = document.querySelector('.readme .table-scroll');
          const pre = document.querySelector('.readme pre');
          return {
            splitCells: cells.filter((cell) => lines(cell) > 1 || cell.scrollWidth > cell.clientWidth).map((cell) => cell.textContent),
            tableOverflow: getComputedStyle(box).overflowX,
            tableScrolls: box.scrollWidth > box.clientWidth,
            preOverflow: getComputedStyle(pre).overflowX,
            preScrolls: pre.scrollWidth > pre.clientWidth,
            pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          };
        })()`,
      );
    await page.goto(`${registry.url}/plugins/config-docs`);
    const desktop = await layoutOf(page);
    expect(desktop.splitCells).toEqual([]);
    expect(desktop).toMatchObject({ tableOverflow: 'auto', preOverflow: 'auto', preScrolls: true, pageOverflow: 0 });
    expect(await page.locator('.readme td').count()).toBe(15);
    await page.screenshot({ path: join(artifactsDir, 'marketplace-readme-desktop.png'), fullPage: true });

    const phone = await context.newPage();
    watch(phone);
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${registry.url}/plugins/config-docs`);
      const narrow = await layoutOf(phone);
      expect(narrow.splitCells).toEqual([]);
      expect(narrow).toMatchObject({ tableOverflow: 'auto', tableScrolls: true, preOverflow: 'auto', preScrolls: true, pageOverflow: 0 });
      await phone.locator('.readme').scrollIntoViewIfNeeded();
      await phone.screenshot({ path: join(artifactsDir, 'marketplace-readme-390.png'), fullPage: true });
      await phone.locator('section[aria-labelledby="readme-heading"]').screenshot({ path: join(artifactsDir, 'marketplace-readme-390-section.png') });
      await phone.goto(`${registry.url}/?sort=name`);
      expect(await inPage<number>(phone, 'document.documentElement.scrollWidth - document.documentElement.clientWidth')).toBeLessThanOrEqual(0);
      await phone.screenshot({ path: join(artifactsDir, 'marketplace-sort-390.png') });
    } finally {
      await phone.close();
    }

    // Sorting: the select reorders in place and keeps the order in the URL and the page links.
    await page.goto(`${registry.url}/`);
    const names = () => page.locator('#results .result-name a').allTextContents();
    expect(await page.locator('#sort').inputValue()).toBe('relevance');
    expect((await names())[0]).toBe('geo-enricher');
    await page.locator('#sort').selectOption('name');
    await expect.poll(async () => (await names()).slice(0, 3)).toEqual(['@acme/utm-labeler', 'config-docs', 'filler-00']);
    expect(new URL(page.url()).search).toBe('?sort=name');
    expect(await page.locator('#pager a[rel="next"]').getAttribute('href')).toBe('/?sort=name&page=2');
    await page.locator('#sort').selectOption('recent');
    await expect.poll(async () => (await names())[0]).toBe('config-docs');
    await page.locator('#sort').selectOption('downloads');
    await expect.poll(async () => (await names())[0]).toBe('geo-enricher');
    await page.locator('#q').fill('filler');
    await expect.poll(() => page.locator('#results-status').textContent()).toBe('21 plugins matching “filler”, showing 1–20.');
    expect(new URL(page.url()).search).toBe('?q=filler&sort=downloads');
    await page.screenshot({ path: join(artifactsDir, 'marketplace-sort-desktop.png') });
    // Server-rendered, for a first load or a browser without scripts.
    const server = await (await fetch(`${registry.url}/?sort=name`)).text();
    expect(server).toContain('<option value="name" selected>Name</option>');
    const firstHit = async (search: string) =>
      /class="result-name"><a href="[^"]*">([^<]*)<\/a>/.exec(await (await fetch(`${registry.url}/${search}`)).text())?.[1];
    expect(await firstHit('?sort=name')).toBe('@acme/utm-labeler');
    expect(await firstHit('?sort=recent')).toBe('config-docs');
    expect(await firstHit('')).toBe('geo-enricher');
    // And the API.
    const api = (await (await fetch(`${registry.url}/api/v1/search?sort=recent&size=1`)).json()) as { results: { name: string }[] };
    expect(api.results.map((hit) => hit.name)).toEqual(['config-docs']);
    const bad = await fetch(`${registry.url}/api/v1/search?sort=popular`);
    expect(bad.status).toBe(400);

    expect(consoleErrors).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(refusals).toEqual([]);
  });
});
