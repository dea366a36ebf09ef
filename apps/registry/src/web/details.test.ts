// The plugin page's details and the search order, without a browser (marketplace.test.ts drives them in Chromium).
import { describe, expect, it } from 'vitest';
import { isSearchSort, searchPlugins } from '../search.js';
import type { PluginSummary } from '../store/types.js';
import { homePage, searchHref } from './pages.js';
import { renderReadme } from './readme.js';
import { latestPublish, relativeAndAbsolute, relativeTime } from './when.js';

const now = new Date('2026-12-02T12:00:00Z');

describe('relative dates', () => {
  it('says how long ago in the largest whole unit', () => {
    expect(relativeTime(new Date('2026-12-02T11:59:30Z'), now)).toBe('just now');
    expect(relativeTime(new Date('2026-12-02T12:00:05Z'), now)).toBe('just now');
    expect(relativeTime(new Date('2026-12-02T11:55:00Z'), now)).toBe('5 minutes ago');
    expect(relativeTime(new Date('2026-12-02T09:00:00Z'), now)).toBe('3 hours ago');
    expect(relativeTime(new Date('2026-12-01T10:00:00Z'), now)).toBe('yesterday');
    expect(relativeTime(new Date('2026-11-18T12:00:00Z'), now)).toBe('2 weeks ago');
    expect(relativeTime(new Date('2026-08-01T12:00:00Z'), now)).toBe('4 months ago');
    expect(relativeTime(new Date('2024-11-01T12:00:00Z'), now)).toBe('2 years ago');
  });

  it('shows the absolute UTC time next to it, and "unknown" for no or bad dates', () => {
    expect(relativeAndAbsolute('2026-11-29T08:30:00.000Z', now).value).toBe(
      '<time datetime="2026-11-29T08:30:00.000Z" title="2026-11-29 08:30 UTC">3 days ago</time> <span class="absolute">(2026-11-29 08:30 UTC)</span>',
    );
    expect(relativeAndAbsolute(undefined, now).value).toContain('unknown');
    expect(relativeAndAbsolute('not a date', now).value).toContain('unknown');
  });

  it('finds the newest publish of any version', () => {
    expect(latestPublish([{ publishedAt: '2026-11-01T00:00:00.000Z' }, { publishedAt: '2026-11-20T00:00:00.000Z' }, { publishedAt: '2026-11-05T00:00:00.000Z' }])).toBe(
      '2026-11-20T00:00:00.000Z',
    );
    expect(latestPublish([])).toBeUndefined();
  });
});

describe('search order', () => {
  const summary = (name: string, downloads: number, modifiedAt: string, keywords: string[] = []): PluginSummary => ({
    name,
    keywords,
    version: '1.0.0',
    downloads,
    modifiedAt,
  });
  const all = [
    summary('zeta-geo', 5, '2026-11-01T00:00:00.000Z'),
    summary('geo', 1, '2026-11-03T00:00:00.000Z'),
    summary('@acme/geo-lite', 50, '2026-11-02T00:00:00.000Z', ['geo']),
  ];
  const order = (sort?: 'relevance' | 'downloads' | 'recent' | 'name') =>
    searchPlugins(all, { q: 'geo', keywords: [], page: 1, size: 10, ...(sort ? { sort } : {}) }).results.map((hit) => hit.name);

  it('orders by relevance by default, or by downloads, recent publish or name', () => {
    expect(order()).toEqual(['geo', '@acme/geo-lite', 'zeta-geo']);
    expect(order('relevance')).toEqual(order());
    expect(order('downloads')).toEqual(['@acme/geo-lite', 'zeta-geo', 'geo']);
    expect(order('recent')).toEqual(['geo', '@acme/geo-lite', 'zeta-geo']);
    expect(order('name')).toEqual(['@acme/geo-lite', 'geo', 'zeta-geo']);
    expect(['relevance', 'downloads', 'recent', 'name'].every(isSearchSort)).toBe(true);
    expect(isSearchSort('popular')).toBe(false);
    expect(isSearchSort('__proto__')).toBe(false);
  });

  it('keeps the order in result links and the select, leaving out the default', () => {
    expect(searchHref('geo', 2, 'name')).toBe('/?q=geo&sort=name&page=2');
    expect(searchHref('', 1, 'relevance')).toBe('/');
    const page = homePage({ query: 'x', page: 1, sort: 'recent', total: 45, hits: [], assets: {} });
    expect(page).toContain('<option value="recent" selected>Recently published</option>');
    expect(page.match(/ selected>/g)).toHaveLength(1);
    expect(page).toContain('href="/?q=x&amp;sort=recent&amp;page=2"');
    expect(page).toContain('<link rel="icon" href="/favicon.svg" type="image/svg+xml">');
  });
});

describe('README tables', () => {
  it('wraps each table in its own scroll box, and only real tables', () => {
    const out = renderReadme('| a | b |\n| --- | --- |\n| 1 | 2 |\n\nText `<table>` and <table onclick="x"><tr><td>raw</td></tr></table>').value;
    expect(out.match(/<div class="table-scroll"><table>/g)).toHaveLength(2);
    expect(out.match(/<\/table><\/div>/g)).toHaveLength(2);
    expect(out).toContain('<code>&lt;table&gt;</code>');
    expect(out).not.toContain('onclick');
  });
});
