import type { ConfigSchema } from '@plugline/sdk';
import { describe, expect, it } from 'vitest';
import { lastDays, renderDownloadsChart } from './chart.js';
import { configFields, renderConfigForm } from './config-form.js';
import { escapeHtml, html, jsonForScript } from './html.js';
import type { PluginRecord, VersionRecord } from '../store/types.js';
import { homePage, pluginPage, pluginPath, searchStatusText } from './pages.js';

describe('html templates', () => {
  it('escapes interpolated text but not nested templates', () => {
    const name = '<img src=x onerror="alert(1)">&\'';
    const out = html`<p title="${name}">${name}${html`<b>${'<i>'}</b>`}${[1, null, false, 'x']}</p>`.value;
    expect(out).toBe('<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;<b>&lt;i&gt;</b>1x</p>');
    expect(escapeHtml('a"b')).toBe('a&quot;b');
  });

  it('writes JSON that cannot close its script element', () => {
    const out = jsonForScript({ s: '</script><script>alert(1)</script>&\u2028' }).value;
    expect(out).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(out)).toEqual({ s: '</script><script>alert(1)</script>&\u2028' });
  });
});

describe('downloads chart', () => {
  it('fills the last N UTC days, oldest first, with zeros where nothing was downloaded', () => {
    const series = lastDays(
      [
        { day: '2026-11-20', count: 4 },
        { day: '2026-11-25', count: 2 },
        { day: '2026-10-01', count: 9 },
      ],
      7,
      new Date('2026-11-25T23:59:00Z'),
    );
    expect(series.map((point) => point.day)).toEqual(['2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23', '2026-11-24', '2026-11-25']);
    expect(series.map((point) => point.count)).toEqual([0, 4, 0, 0, 0, 0, 2]);
  });

  it('draws one labelled bar per day scaled to the peak', () => {
    const svg = renderDownloadsChart(
      [
        { day: '2026-11-24', count: 0 },
        { day: '2026-11-25', count: 10 },
      ],
      'c1',
    ).value;
    expect(svg).toContain('role="img" aria-labelledby="c1"');
    expect(svg).toContain('<title id="c1">10 downloads from 2026-11-24 to 2026-11-25, at most 10 a day</title>');
    expect(svg.match(/<rect /g)).toHaveLength(2);
    expect(svg).toContain('height="60"><title>2026-11-25: 10 downloads</title>');
    expect(svg).toContain('class="bar bar-empty"');
  });
});

const schema = {
  type: 'object',
  properties: {
    host: { type: 'string', title: 'Host <b>name</b>', description: 'Where "events" go' },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 443 },
    ratio: { type: 'number' },
    mode: { enum: ['a', 'b', 3], default: 'b' },
    token: { type: 'string', writeOnly: true },
    verbose: { type: 'boolean', default: true },
    tags: { type: 'array', items: { type: 'string' }, default: ['x', 'y'] },
    extra: { type: 'object' },
    nullable: { type: ['string', 'null'] },
  },
  required: ['host', 'token', 'mode'],
} as const satisfies ConfigSchema;

describe('config form', () => {
  it('derives one field per property with the right kind', () => {
    expect(configFields(schema).map((field) => [field.key, field.kind, field.required])).toEqual([
      ['host', 'string', true],
      ['port', 'integer', false],
      ['ratio', 'number', false],
      ['mode', 'enum', true],
      ['token', 'secret', true],
      ['verbose', 'boolean', false],
      ['tags', 'list', false],
      ['extra', 'json', false],
      ['nullable', 'string', false],
    ]);
  });

  it('renders labelled controls with defaults, limits, hints and escaped schema text', () => {
    const out = renderConfigForm(schema).value;
    expect(out).toContain('<label for="cfg-0">Host &lt;b&gt;name&lt;/b&gt; <span class="req" aria-hidden="true">*</span>');
    expect(out).toContain('Where &quot;events&quot; go');
    expect(out).toMatch(/<input type="number" inputmode="numeric" min="1" max="65535" step="1" id="cfg-1" [^>]*value="443">/);
    expect(out).toContain('step="any" id="cfg-2"');
    expect(out).toContain('<select id="cfg-3" data-config-key="mode" data-kind="enum" aria-describedby="cfg-3-hint cfg-3-error" required aria-required="true">');
    expect(out).toContain('<option value="&quot;b&quot;" selected>b</option><option value="3">3</option>');
    expect(out).toMatch(/<input type="password" autocomplete="new-password" spellcheck="false" id="cfg-4" [^>]*required/);
    expect(out).toMatch(/<input type="checkbox" id="cfg-5" [^>]* checked>/);
    expect(out).toContain('data-item-kind="string" id="cfg-6" data-config-key="tags" data-kind="list" aria-describedby="cfg-6-hint cfg-6-error">x\ny</textarea>');
    expect(out).toContain('data-kind="json"');
    expect(out).toContain('<script type="application/json" id="config-schema">');
    // Nothing to submit without the browser script: no names, and the button waits for the script.
    expect(out).not.toMatch(/\sname=/);
    expect(out).toContain('<button type="submit" disabled>Validate config</button>');
  });

  it('says so when a plugin takes no configuration', () => {
    expect(renderConfigForm({ type: 'object' }).value).toContain('This plugin takes no configuration.');
  });
});

describe('pages', () => {
  it('words the search status for every case the browser script also handles', () => {
    expect(searchStatusText(0, 1, 0, '')).toBe('No plugins are published yet.');
    expect(searchStatusText(0, 1, 0, 'geo')).toBe('No plugins match “geo”.');
    expect(searchStatusText(1, 1, 1, 'geo')).toBe('1 plugin matching “geo”.');
    expect(searchStatusText(45, 1, 20, '')).toBe('45 plugins, showing 1–20.');
    expect(searchStatusText(45, 3, 5, 'x')).toBe('45 plugins matching “x”, showing 41–45.');
    expect(searchStatusText(45, 4, 0, 'x')).toBe('45 plugins matching “x”; page 4 is past the end.');
  });

  it('links to the next and previous result pages', () => {
    const hit = { name: 'p', keywords: [], version: '1.0.0', downloads: 0, score: 1 };
    const first = homePage({ query: 'a b', page: 1, total: 45, hits: Array(20).fill(hit), assets: {} });
    expect(first).toContain('<nav id="pager" class="pager" aria-label="Result pages"><a rel="next" href="/?q=a+b&amp;page=2" data-page="2">Next page</a></nav>');
    const last = homePage({ query: '', page: 3, total: 45, hits: Array(5).fill(hit), assets: {} });
    expect(last).toContain('<a rel="prev" href="/?page=2" data-page="2">Previous page</a></nav>');
    expect(homePage({ query: '', page: 1, total: 3, hits: Array(3).fill(hit), assets: {} })).toContain('aria-label="Result pages" hidden>');
  });

  it('URL-encodes scoped names in plugin links', () => {
    expect(pluginPath('@acme/geo')).toBe('/plugins/%40acme%2Fgeo');
    expect(pluginPath('geo', '1.0.0-beta.1')).toBe('/plugins/geo?version=1.0.0-beta.1');
  });

  it('renders search hits server-side with plugin text escaped', () => {
    const out = homePage({
      query: '"><script>',
      page: 1,
      total: 1,
      hits: [{ name: 'x', description: '<script>alert(1)</script>', keywords: ['<k>'], version: '1.0.0', downloads: 1234, score: 1 }],
      assets: { script: 'app-1.js', stylesheet: 'style-1.css' },
    });
    expect(out).not.toContain('<script>');
    expect(out).toContain('value="&quot;&gt;&lt;script&gt;"');
    expect(out).toContain('<p class="downloads">1,234 downloads</p>');
    expect(out).toContain('<script type="module" src="/assets/app-1.js"></script>');
    expect(out).toContain('<main id="main"');
    expect(out).toContain('role="search"');
  });

  it('keeps hostile manifest fields out of the plugin page markup', () => {
    const manifest = {
      name: 'evil',
      version: '1.0.0',
      main: 'index.js',
      sdk: '^0.1.0',
      description: '<script>alert(1)</script>',
      keywords: ['"><img src=x onerror=alert(2)>'],
      homepage: 'javascript:alert(3)',
      repository: 'git+javascript:alert(7)',
      icon: 'javascript:alert(4)',
      author: '<b>me</b>',
      license: '<i>MIT</i>',
      config: { type: 'object', properties: { '"><script>': { type: 'string', description: '</script><script>alert(5)</script>' } } },
    } as const;
    const version: VersionRecord = {
      name: 'evil',
      version: '1.0.0',
      integrity: 'sha512-abc',
      size: 2048,
      manifest: manifest as unknown as VersionRecord['manifest'],
      readme: '<script>alert(6)</script>\n\n# Title',
      publishedAt: '2026-11-25T10:00:00.000Z',
      deprecated: '<b>old</b>',
    };
    const plugin: PluginRecord = {
      name: 'evil',
      ownerKey: 'evil',
      keywords: [...manifest.keywords],
      distTags: { latest: '1.0.0', '<beta>': '1.0.0' },
      createdAt: '2026-11-25T10:00:00.000Z',
      modifiedAt: '2026-11-25T10:00:00.000Z',
    };
    const out = pluginPage({
      plugin,
      versions: [version],
      current: version,
      downloads: { total: 3, versions: { '1.0.0': 3 }, daily: [{ day: '2026-11-25', count: 3 }] },
      maintainers: ['<admin>'],
      now: new Date('2026-11-25T12:00:00Z'),
      assets: {},
    });
    // The only script element is the inert JSON block of the config schema.
    expect(out.match(/<script/g)).toEqual(['<script']);
    expect(out).toContain('<script type="application/json" id="config-schema">');
    expect(out).not.toMatch(/<(b|i|img|beta|admin)>|<img src=x|javascript:/);
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out).toContain('<h3>Title</h3>');
    expect(out).toContain('<code id="install-command">plugline install evil@1.0.0</code>');
    expect(out).toContain('3 downloads in the last 30 days · 3 downloads in all');
    expect(out).not.toContain('Repository');
    expect(out).toContain('<span class="tag tag-deprecated">deprecated</span> <span class="deprecation">&lt;b&gt;old&lt;/b&gt;</span>');
  });
});

describe('plugin page: capabilities', () => {
  const page = (capabilities?: string[]) => {
    const version: VersionRecord = {
      name: 'caps',
      version: '1.0.0',
      integrity: 'sha512-abc',
      size: 1024,
      manifest: { name: 'caps', version: '1.0.0', main: 'index.js', sdk: '^0.1.0', config: { type: 'object' }, ...(capabilities ? { capabilities } : {}) } as VersionRecord['manifest'],
      readme: '',
      publishedAt: '2026-11-25T10:00:00.000Z',
    };
    const plugin: PluginRecord = { name: 'caps', ownerKey: 'caps', keywords: [], distTags: { latest: '1.0.0' }, createdAt: '2026-11-25T10:00:00.000Z', modifiedAt: '2026-11-25T10:00:00.000Z' };
    return pluginPage({ plugin, versions: [version], current: version, downloads: { total: 0, versions: {}, daily: [] }, maintainers: [], now: new Date('2026-11-25T12:00:00Z'), assets: {} });
  };

  it('shows what a plugin requests, and the install command grants it', () => {
    const out = page(['postgres', 'net:api.hubapi.com']);
    expect(out).toContain('<dt>Requests</dt><dd class="capabilities"><ul><li><code>postgres</code></li><li><code>net:api.hubapi.com</code></li></ul>');
    expect(out).toContain('<code id="install-command">plugline install caps@1.0.0 --allow-postgres --allow-net api.hubapi.com</code>');
    expect(page()).toContain('<dt>Requests</dt><dd class="capabilities">no capabilities (fetch to public addresses only)</dd>');
    expect(page()).toContain('<code id="install-command">plugline install caps@1.0.0</code>');
  });
});
