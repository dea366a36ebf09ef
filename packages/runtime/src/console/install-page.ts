import type { PluginDocument, SearchResult, VersionDocument } from '@plugline/registry-client';
import { requestedCapabilities } from '../capabilities.js';
import { configValidatorId, type FieldError, renderConfigFields } from './config-form.js';
import { html, type Markup } from './html.js';
import { csrfField, type PageContext, page } from './layout.js';

// Installing from the connected registry: search (GET /console/install?q=), then one plugin's page
// (GET /console/install/:name?version=) to pick a version, read what it requests, configure it with
// the form generated from that version's schema, grant its capabilities and choose its place in the
// chain. The POST goes through the live management API (management.ts addLivePlugin).

/** The console path of a plugin's install page. */
export function installPath(name: string, version?: string): string {
  return `/console/install/${encodeURIComponent(name)}${version ? `?version=${encodeURIComponent(version)}` : ''}`;
}

/** The search page. */
export function renderSearchPage(context: PageContext, data: { registry: string | undefined; q: string; result?: SearchResult; error?: string; installed: readonly string[] }): string {
  const hits = data.result?.results ?? [];
  return page(context, {
    title: 'Install',
    section: 'install',
    body: html`<h2>Install a plugin</h2>
${data.registry ? html`<p class="lead">From the registry at <code>${data.registry}</code>.</p>` : html`<p class="flash flash-error" role="alert">No registry is connected: set <code>registry</code> in plugins.json or start the runtime with <code>--registry</code>.</p>`}
<form method="get" action="/console/install" class="row" role="search">
<label for="q">Search</label>
<input id="q" name="q" type="search" value="${data.q}" placeholder="geoip, s3, schema…">
<button type="submit">Search</button>
</form>
${data.error ? html`<p class="flash flash-error" role="alert">${data.error}</p>` : ''}
${
  data.result
    ? hits.length === 0
      ? html`<p class="empty">No plugin matches${data.q ? html` “${data.q}”` : ''}.</p>`
      : html`<p>${data.result.total} plugin${data.result.total === 1 ? '' : 's'}.</p><ul class="hits">${hits.map(
          (hit) => html`<li class="hit" data-plugin="${hit.name}"><h3><a href="${installPath(hit.name)}">${hit.name}</a> <span class="version">${hit.version}</span>${data.installed.includes(hit.name) ? html` <span class="status status-running">in the chain</span>` : ''}</h3>${hit.description ? html`<p>${hit.description}</p>` : ''}${hit.keywords.length > 0 ? html`<p class="keywords">${hit.keywords.map((keyword) => html`<span class="capability">${keyword}</span>`)}</p>` : ''}</li>`,
        )}</ul>`
    : ''
}`,
  });
}

/** What the install page of one plugin shows. */
export interface InstallPageData {
  plugin: PluginDocument;
  version: VersionDocument;
  /** The chain's plugins in order (for the position choice). */
  chain: readonly string[];
  /** A submitted form that failed: its values and errors. */
  draft?: { config: Record<string, unknown>; errors: FieldError[]; grants: string[]; position: number; spec?: string; message?: string };
}

function versionChoice(data: InstallPageData): Markup {
  const versions = Object.keys(data.plugin.versions).reverse();
  const tagsOf = (version: string) => Object.entries(data.plugin.distTags).filter(([, tagged]) => tagged === version).map(([tag]) => tag);
  return html`<form method="get" action="${installPath(data.plugin.name)}" class="row">
<label for="pick-version">Version</label>
<select id="pick-version" name="version">${versions.map((version) => {
    const tags = tagsOf(version);
    return html`<option value="${version}"${version === data.version.version ? ' selected' : ''}>${version}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}${data.plugin.versions[version]?.deprecated ? ' · deprecated' : ''}</option>`;
  })}</select>
<button type="submit">Show this version</button>
</form>`;
}

/**
 * The spec saved in plugins.json (what `plugline update` resolves again): npm's default `^version` for
 * the latest version, the exact version for an older one (a range would resolve past it).
 */
function specChoice(data: InstallPageData): Markup {
  const version = data.version.version;
  const latest = data.plugin.distTags.latest === version;
  const chosen = data.draft?.spec ?? (latest ? `^${version}` : version);
  const options = [
    [`^${version}`, 'minor and patch updates (npm\'s default)'],
    [`~${version}`, 'patch updates only'],
    [version, 'this version only'],
  ];
  return html`<label for="install-spec">Saved as</label>
<select id="install-spec" name="spec">${options.map(([value, label]) => html`<option value="${value}"${value === chosen ? ' selected' : ''}>${value}: ${label}</option>`)}</select>
<p class="hint">The spec kept in plugins.json: what <code>plugline update</code> and a version change resolve within.</p>`;
}

/** One plugin's install page. */
export function renderInstallPage(context: PageContext, data: InstallPageData): string {
  const { plugin, version, draft } = data;
  const requested: string[] = requestedCapabilities(version.manifest);
  const schema = version.config;
  const hasFields = Object.keys((schema as { properties?: object } | undefined)?.properties ?? {}).length > 0;
  const position = draft?.position ?? data.chain.length;
  return page(context, {
    title: `Install ${plugin.name}`,
    section: 'install',
    scripts: schema ? [configValidatorId(schema)] : [],
    body: html`<p class="crumbs"><a href="/console/install">Install</a> › ${plugin.name}</p>
<h2 data-plugin="${plugin.name}">${plugin.name} <span class="version">${version.version}</span></h2>
${plugin.description ? html`<p class="lead">${plugin.description}</p>` : ''}
${version.deprecated ? html`<p class="flash flash-error" role="alert">This version is deprecated: ${version.deprecated}</p>` : ''}
${data.chain.includes(plugin.name) ? html`<p class="flash flash-error" role="alert">${plugin.name} is in the chain already: change its version on <a href="/console/plugins/${encodeURIComponent(plugin.name)}">its page</a>.</p>` : ''}
${versionChoice(data)}
${draft?.message ? html`<p class="flash flash-error" role="alert">${draft.message}</p>` : ''}
<form method="post" action="/console/install/${encodeURIComponent(plugin.name)}" data-config-form novalidate>
${csrfField(context)}
<section aria-labelledby="install-config-title"><h3 id="install-config-title">Config</h3>
${hasFields ? html`${renderConfigFields(schema, draft?.config ?? {}, draft ? { errors: draft.errors } : {})}` : html`<p class="empty">This version takes no config.</p>`}
</section>
<section aria-labelledby="install-grants-title"><h3 id="install-grants-title">Capabilities</h3>
${
  requested.length === 0
    ? html`<p class="empty">This version requests no capabilities.</p>`
    : html`<fieldset><legend>${plugin.name} requests these; it starts only with every one granted</legend>${requested.map(
        (capability, index) => html`<label class="check"><input type="checkbox" name="grant" value="${capability}" id="install-grant-${index}"${draft?.grants.includes(capability) ? ' checked' : ''}> Grant <code>${capability}</code></label>`,
      )}</fieldset>`
}
</section>
<section aria-labelledby="install-spec-title"><h3 id="install-spec-title">Updates</h3>
${specChoice(data)}
</section>
<section aria-labelledby="install-position-title"><h3 id="install-position-title">Place in the chain</h3>
<label for="install-position">Position</label>
<select id="install-position" name="position">${Array.from({ length: data.chain.length + 1 }, (_, index) => html`<option value="${index}"${index === position ? ' selected' : ''}>${index === data.chain.length ? (data.chain.length === 0 ? 'first (the chain is empty)' : `last (after ${data.chain.at(-1)})`) : `${index + 1}: before ${data.chain[index]}`}</option>`)}</select>
</section>
<button type="submit" name="_form" value="save" class="primary">Install ${plugin.name} ${version.version}</button>
</form>`,
  });
}
