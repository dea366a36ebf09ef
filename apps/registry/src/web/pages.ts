import { grantFlags } from '@plugline/sdk';
import semver from 'semver';
import type { SearchHit } from '../api-types.js';
import type { SearchSort } from '../search.js';
import type { DownloadStats, PluginRecord, VersionRecord } from '../store/types.js';
import { lastDays, renderDownloadsChart } from './chart.js';
import { renderConfigForm } from './config-form.js';
import { faviconPath } from './favicon.js';
import { html, type SafeHtml } from './html.js';
import { renderReadme } from './readme.js';
import { latestPublish, relativeAndAbsolute } from './when.js';

/** The hashed asset file names the layout links to (from `assets.json`); missing ones are left out. */
export interface PageAssets {
  script?: string;
  stylesheet?: string;
}

/** URL path of a plugin's page; scoped names are URL-encoded (`/plugins/%40acme%2Fgeo`). */
export function pluginPath(name: string, version?: string): string {
  return `/plugins/${encodeURIComponent(name)}${version ? `?version=${encodeURIComponent(version)}` : ''}`;
}

/** URL path of a version's tarball in the registry API. */
export function tarballPath(name: string, version: string): string {
  return `/api/v1/plugins/${encodeURIComponent(name)}/-/${encodeURIComponent(version)}.tgz`;
}

function downloadsText(count: number): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? 'download' : 'downloads'}`;
}

/** Results per page on the home page (the browser script asks for the same). */
export const searchPageSize = 20;

/** The same wording as the browser script's `statusText` (client/search.js). */
export function searchStatusText(total: number, page: number, shown: number, query: string): string {
  const what = query ? ` matching “${query}”` : '';
  if (total === 0) return query ? `No plugins match “${query}”.` : 'No plugins are published yet.';
  const count = `${total} ${total === 1 ? 'plugin' : 'plugins'}${what}`;
  if (page === 1 && shown >= total) return `${count}.`;
  const first = (page - 1) * searchPageSize + 1;
  return shown === 0 ? `${count}; page ${page} is past the end.` : `${count}, showing ${first}–${first + shown - 1}.`;
}

/** Link to a page of search results (`/?q=&sort=&page=`; the default sort, `relevance`, is left out). */
export function searchHref(query: string, page: number, sort: SearchSort = 'relevance'): string {
  const params = new URLSearchParams();
  if (query) params.set('q', query);
  if (sort !== 'relevance') params.set('sort', sort);
  if (page > 1) params.set('page', String(page));
  const search = params.toString();
  return search ? `/?${search}` : '/';
}

function pager(query: string, page: number, total: number, sort: SearchSort): SafeHtml {
  const pages = Math.ceil(total / searchPageSize);
  return html`<nav id="pager" class="pager" aria-label="Result pages"${pages <= 1 && page === 1 ? html` hidden` : ''}>${page > 1 ? html`<a rel="prev" href="${searchHref(query, page - 1, sort)}" data-page="${page - 1}">Previous page</a>` : ''}${page < pages ? html`<a rel="next" href="${searchHref(query, page + 1, sort)}" data-page="${page + 1}">Next page</a>` : ''}</nav>`;
}

function date(iso: string | undefined): SafeHtml {
  if (!iso) return html`<span class="empty">unknown</span>`;
  const parsed = new Date(iso);
  if (Number.isNaN(parsed.getTime())) return html`${iso}`;
  return html`<time datetime="${parsed.toISOString()}" title="${parsed.toISOString().replace('T', ' ').slice(0, 19)} UTC">${parsed.toISOString().slice(0, 10)}</time>`;
}

/** The page frame: landmarks (banner, navigation, main, contentinfo), a skip link, the hashed assets. */
export function layout(options: { title: string; description?: string; assets: PageAssets; body: SafeHtml }): string {
  const { title, description, assets, body } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
${description ? html`<meta name="description" content="${description}">` : ''}
<link rel="icon" href="${faviconPath}" type="image/svg+xml">
${assets.stylesheet ? html`<link rel="stylesheet" href="/assets/${assets.stylesheet}">` : ''}
${assets.script ? html`<script type="module" src="/assets/${assets.script}"></script>` : ''}
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header"><div class="inner"><a class="brand" href="/"><span class="brand-mark" aria-hidden="true"></span>Plugline</a>
<nav aria-label="Site"><a href="/">Plugins</a></nav></div></header>
<main id="main" class="inner" tabindex="-1">
${body}
</main>
<footer class="site-footer"><div class="inner">Plugline plugin registry · plugins run sandboxed in your event pipeline · <a href="/api/v1/search">JSON API</a></div></footer>
</body>
</html>
`.value;
}

function renderHit(hit: SearchHit): SafeHtml {
  return html`<li class="result"><h3 class="result-name"><a href="${pluginPath(hit.name)}">${hit.name}</a> <span class="version">v${hit.version}</span></h3>${hit.description ? html`<p class="description">${hit.description}</p>` : ''}${hit.keywords.length > 0 ? html`<ul class="keywords" aria-label="Keywords">${hit.keywords.map((keyword) => html`<li>${keyword}</li>`)}</ul>` : ''}<p class="downloads">${downloadsText(hit.downloads)}</p></li>`;
}

const sortLabels: readonly (readonly [SearchSort, string])[] = [
  ['relevance', 'Relevance'],
  ['downloads', 'Downloads'],
  ['recent', 'Recently published'],
  ['name', 'Name'],
];

/** The home page: a search box (instant results in the browser; a plain GET form without JavaScript) and the first page of results. */
export function homePage(options: { query: string; page: number; sort?: SearchSort; total: number; hits: readonly SearchHit[]; assets: PageAssets }): string {
  const { query, page, total, hits, assets } = options;
  const sort = options.sort ?? 'relevance';
  const body = html`<h1>Plugins for your event pipeline</h1>
<p class="lead">Enrich, label, filter and export analytics events. Find a plugin, read its README, try its configuration, and install it with <code>plugline install</code>.</p>
<form id="search-form" class="search" role="search" action="/" method="get">
<label for="q" class="visually-hidden">Search plugins</label>
<input id="q" name="q" type="search" value="${query}" placeholder="Search plugins by name, keyword or description" autocomplete="off" spellcheck="false" aria-describedby="search-help" aria-controls="results">
<button type="submit">Search</button>
<span class="sort"><label for="sort">Sort by</label>
<select id="sort" name="sort" aria-controls="results">${sortLabels.map(([value, label]) => html`<option value="${value}"${value === sort ? html` selected` : ''}>${label}</option>`)}</select></span>
</form>
<p id="search-help" class="visually-hidden">Results update as you type. Press the down arrow to move into the results.</p>
<section aria-labelledby="results-heading">
<h2 id="results-heading" class="visually-hidden">Results</h2>
<p id="results-status" class="results-status" role="status" aria-live="polite">${searchStatusText(total, page, hits.length, query)}</p>
<ol id="results" class="results">${hits.map(renderHit)}</ol>
${pager(query, page, total, sort)}
</section>`;
  return layout({ title: query ? `“${query}” · Plugline plugins` : 'Plugline plugins', description: 'Search the Plugline plugin registry.', assets, body });
}

/** Everything the plugin page shows. */
export interface PluginPageData {
  plugin: PluginRecord;
  versions: readonly VersionRecord[];
  /** The version shown (README, config form, install command): `?version=` or `latest`. */
  current: VersionRecord;
  downloads: DownloadStats;
  maintainers: readonly string[];
  now: Date;
  assets: PageAssets;
}

function safeHomepage(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

// Icons are only shown from https: URLs or raster data: URIs (an <img> never runs scripts, but this keeps odd schemes out).
function safeIcon(icon: string | undefined): string | undefined {
  if (!icon) return undefined;
  if (/^data:image\/(?:png|gif|jpeg|webp|svg\+xml);base64,[a-z0-9+/=\s]+$/i.test(icon)) return icon;
  return safeHomepage(icon)?.startsWith('https:') ? icon : undefined;
}

/** A plugin's page: header, install command, README, config form, versions, dist-tags, downloads chart. */
export function pluginPage(data: PluginPageData): string {
  const { plugin, versions, current, downloads, maintainers, now, assets } = data;
  const { manifest } = current;
  const latest = plugin.distTags.latest;
  const tagsByVersion = new Map<string, string[]>();
  for (const [tag, version] of Object.entries(plugin.distTags)) tagsByVersion.set(version, [...(tagsByVersion.get(version) ?? []), tag]);
  const sorted = [...versions].sort((a, b) => semver.rcompare(a.version, b.version));
  // The install command grants what this version requests (the operator's decision, shown up front).
  const install = `plugline install ${plugin.name}@${current.version}${manifest.capabilities?.length ? ` ${grantFlags(manifest.capabilities)}` : ''}`;
  const series = lastDays(downloads.daily, 30, now);
  const last30 = series.reduce((sum, point) => sum + point.count, 0);
  const weekly = series.slice(-7).reduce((sum, point) => sum + point.count, 0);
  const lastPublished = latestPublish(versions);
  const homepage = safeHomepage(manifest.homepage);
  // npm-style `git+https://…` repository URLs link to their https page.
  const repository = safeHomepage(manifest.repository?.replace(/^git\+/, ''));
  const icon = safeIcon(manifest.icon);

  const notices = [
    current.deprecated !== undefined
      ? html`<p class="notice" role="note"><strong>Deprecated:</strong> version ${current.version} is deprecated${current.deprecated ? html`: ${current.deprecated}` : ''}</p>`
      : '',
    latest && current.version !== latest
      ? html`<p class="notice" role="note">You are viewing version ${current.version}. The latest version is <a href="${pluginPath(plugin.name)}">${latest}</a>.</p>`
      : '',
  ];

  const versionRows = sorted.map((version) => {
    const tags = tagsByVersion.get(version.version) ?? [];
    const isCurrent = version.version === current.version;
    // Tags and the deprecation sit under the version number, so the table stays three columns wide on a phone.
    const status =
      tags.length > 0 || version.deprecated !== undefined
        ? html`<span class="version-status">${tags.map((tag) => html`<span class="tag">${tag}</span>`)}${version.deprecated !== undefined ? html`<span class="tag tag-deprecated">deprecated</span>${version.deprecated ? html` <span class="deprecation">${version.deprecated}</span>` : ''}` : ''}</span>`
        : '';
    return html`<tr${version.deprecated !== undefined ? html` class="is-deprecated"` : ''}>
<th scope="row"><a href="${pluginPath(plugin.name, version.version)}"${isCurrent ? html` aria-current="page"` : ''}>${version.version}</a>${status}</th>
<td>${date(version.publishedAt)}</td>
<td class="num">${(downloads.versions[version.version] ?? 0).toLocaleString('en-US')}</td>
</tr>`;
  });

  const distTags = Object.entries(plugin.distTags).sort(([a], [b]) => (a === 'latest' ? -1 : b === 'latest' ? 1 : a.localeCompare(b)));

  const body = html`<div class="plugin-header">${icon ? html`<img class="plugin-icon" src="${icon}" alt="">` : ''}<div>
<h1>${plugin.name}</h1>
<p class="meta">v${current.version} · published ${date(current.publishedAt)}${manifest.license ? html` · ${manifest.license}` : ''}</p>
${manifest.description ? html`<p class="lead">${manifest.description}</p>` : ''}
${manifest.keywords?.length ? html`<ul class="keywords" aria-label="Keywords">${manifest.keywords.map((keyword) => html`<li><a href="/?q=${encodeURIComponent(keyword)}">${keyword}</a></li>`)}</ul>` : ''}
</div></div>
${notices}
<div class="layout">
<div class="content">
<section class="panel" aria-labelledby="readme-heading"><h2 id="readme-heading">README</h2>
<div class="readme">${current.readme?.trim() ? renderReadme(current.readme) : html`<p class="empty">This version has no README.</p>`}</div></section>
<section class="panel" aria-labelledby="config-heading"><h2 id="config-heading">Configuration</h2>
${renderConfigForm(manifest.config, { installCommand: install })}</section>
<section class="panel" aria-labelledby="versions-heading"><h2 id="versions-heading">Versions</h2>
<div class="table-wrap"><table class="versions">
<caption class="visually-hidden">Published versions, newest first, with their dist-tags, deprecations, publish dates and downloads</caption>
<thead><tr><th scope="col">Version</th><th scope="col">Published</th><th scope="col" class="num">Downloads</th></tr></thead>
<tbody>${versionRows}</tbody></table></div></section>
</div>
<aside aria-label="Install and statistics">
<section class="panel" aria-labelledby="install-heading"><h2 id="install-heading">Install</h2>
<div class="install"><pre><code id="install-command">${install}</code></pre><button type="button" class="secondary" data-copy="install-command" aria-label="Copy the install command" hidden>Copy</button><span class="copy-status" data-copy-status role="status"></span></div></section>
<section class="panel" aria-labelledby="downloads-heading"><h2 id="downloads-heading">Downloads</h2>
${renderDownloadsChart(series, 'downloads-chart-title')}
<p class="chart-axis" aria-hidden="true"><span>${series[0]?.day.slice(5) ?? ''}</span><span>today</span></p>
<p class="weekly"><strong id="weekly-downloads">${weekly.toLocaleString('en-US')}</strong> ${weekly === 1 ? 'download' : 'downloads'} in the last 7 days</p>
<p class="chart-caption">${downloadsText(last30)} in the last 30 days · ${downloadsText(downloads.total)} in all</p></section>
<section class="panel" aria-labelledby="tags-heading"><h2 id="tags-heading">Dist-tags</h2>
<dl class="facts">${distTags.map(([tag, version]) => html`<dt>${tag}</dt><dd><a href="${pluginPath(plugin.name, version)}">${version}</a></dd>`)}</dl></section>
<section class="panel" aria-labelledby="details-heading"><h2 id="details-heading">Details</h2>
<dl class="facts">
<dt>SDK</dt><dd><code>${manifest.sdk}</code></dd>
${manifest.author ? html`<dt>Author</dt><dd>${manifest.author}</dd>` : ''}
<dt>Last published</dt><dd id="last-published">${relativeAndAbsolute(lastPublished, now)}</dd>
${repository ? html`<dt>Repository</dt><dd><a id="repository-link" href="${repository}" rel="nofollow noopener noreferrer ugc">${repository.replace(/^https?:\/\//, '')}</a></dd>` : ''}
${homepage ? html`<dt>Homepage</dt><dd><a id="homepage-link" href="${homepage}" rel="nofollow noopener noreferrer ugc">${homepage.replace(/^https?:\/\//, '')}</a></dd>` : ''}
${maintainers.length ? html`<dt>Maintainers</dt><dd>${maintainers.join(', ')}</dd>` : ''}
<dt>Requests</dt><dd class="capabilities">${
  manifest.capabilities?.length
    ? html`<ul>${manifest.capabilities.map((capability) => html`<li><code>${capability}</code></li>`)}</ul><p>Granted by the operator at install: <code>plugline install ${plugin.name} ${grantFlags(manifest.capabilities)}</code></p>`
    : 'no capabilities (fetch to public addresses only)'
}</dd>
<dt>Created</dt><dd>${date(plugin.createdAt)}</dd>
<dt>Tarball</dt><dd><a href="${tarballPath(plugin.name, current.version)}">${current.version}.tgz</a> (${(current.size / 1024).toFixed(1)} KiB)</dd>
<dt>Integrity</dt><dd><code class="integrity" title="${current.integrity}">${current.integrity.slice(0, 19)}…</code></dd>
<dt>API</dt><dd><a href="/api/v1/plugins/${encodeURIComponent(plugin.name)}">JSON</a></dd>
</dl></section>
</aside>
</div>`;
  return layout({ title: `${plugin.name} · Plugline plugins`, description: manifest.description ?? plugin.description ?? `The ${plugin.name} plugin`, assets, body });
}

/** A 404 page with a way back to search. */
export function notFoundPage(options: { message: string; assets: PageAssets }): string {
  const body = html`<h1>Not found</h1><p>${options.message}</p><p><a href="/">Search the plugins</a></p>`;
  return layout({ title: 'Not found · Plugline plugins', assets: options.assets, body });
}

/** What a private registry answers for every page: no plugin data, and no assets needed. */
export function privatePage(): string {
  const body = html`<h1>Private registry</h1><p>This registry is private: its plugins are only available through the API with a read token, for example with <code>plugline search</code> after <code>plugline login</code>.</p>`;
  return layout({ title: 'Private registry · Plugline', assets: {}, body });
}
