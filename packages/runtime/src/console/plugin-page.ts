import { type ConfigSchema, missingCapabilities } from '@plugline/sdk';
import type { Runtime } from '../runtime.js';
import { pluginPath } from './chain-page.js';
import { configValidatorId, type FieldError, renderConfigFields } from './config-form.js';
import { html, type Markup } from './html.js';
import { csrfField, type PageContext, page } from './layout.js';

// One plugin's page: what it is and how it runs (status, version, hooks), its metrics (events in,
// out, dropped, failed; p50/p99 time per event), its errors by code and last errors, its logs (by
// level), and its forms: the config (generated from the version's JSON Schema, secrets write-only),
// the version (upgrade or downgrade keeping the config) and the capabilities granted.

type Described = ReturnType<Runtime['describePlugins']>[number];

const levels = ['debug', 'info', 'warn', 'error'] as const;
/** A log level of the logs filter. */
export type LogLevel = (typeof levels)[number];

/** What the plugin page shows besides the runtime's own description of the plugin. */
export interface PluginPageData {
  plugin: Described;
  schema: ConfigSchema | undefined;
  /** Versions the registry has (newest first) and its dist-tags; absent when it could not be asked. */
  versions?: { versions: string[]; distTags: Record<string, string> } | { error: string };
  /** The logs filter (minimum level). */
  level: LogLevel;
  /** A config the operator submitted and that did not validate, with its errors (shown in the form). */
  draft?: { config: Record<string, unknown>; errors: FieldError[] };
}

const formatMs = (value: number | null | undefined) => (value === null || value === undefined ? '–' : value < 1 ? `${value.toFixed(3)} ms` : `${value.toFixed(1)} ms`);

function metrics(plugin: Described): Markup {
  const stats = plugin.stats;
  return html`<section aria-labelledby="metrics-title"><h3 id="metrics-title">Metrics</h3>
<dl class="metrics">
  <div><dt>Events in</dt><dd data-metric="eventsIn">${stats.eventsIn}</dd></div>
  <div><dt>Events out</dt><dd data-metric="eventsOut">${stats.eventsOut}</dd></div>
  <div><dt>Dropped</dt><dd data-metric="dropped">${stats.dropped}</dd></div>
  <div><dt>Failed</dt><dd data-metric="failed">${stats.failed}</dd></div>
  <div><dt>p50 per event</dt><dd data-metric="p50">${formatMs(stats.timing.p50Ms)}</dd></div>
  <div><dt>p99 per event</dt><dd data-metric="p99">${formatMs(stats.timing.p99Ms)}</dd></div>
</dl>
<p class="hint">Counted since this version started. Time per event: each batch's processEvent time divided by its events, over the last ${stats.timing.samples} batch${stats.timing.samples === 1 ? '' : 'es'}.</p>
</section>`;
}

function errors(plugin: Described): Markup {
  const byCode = Object.entries(plugin.errors.byCode).sort((a, b) => b[1] - a[1]);
  const recent = plugin.recentErrors.slice().reverse();
  return html`<section aria-labelledby="errors-title"><h3 id="errors-title">Errors</h3>
${
  byCode.length === 0
    ? html`<p class="empty">No errors.</p>`
    : html`<table class="errors-by-code"><thead><tr><th scope="col">Code</th><th scope="col">Count</th></tr></thead><tbody>${byCode.map(([code, count]) => html`<tr><td><code>${code}</code></td><td>${count}</td></tr>`)}</tbody></table>`
}
${recent.length > 0 ? html`<ul class="error-list">${recent.map((error) => html`<li><code>${error.code}</code> ${error.hook}: <span class="message">${error.message}</span> <time datetime="${error.at}">${error.at}</time></li>`)}</ul>` : ''}
</section>`;
}

function logs(plugin: Described, level: LogLevel): Markup {
  const floor = levels.indexOf(level);
  const lines = plugin.recentLogs.filter((line) => levels.indexOf(line.level) >= floor).reverse();
  return html`<section aria-labelledby="logs-title"><h3 id="logs-title">Logs</h3>
<nav class="filters" aria-label="Log level">${levels.map((candidate) => html`<a href="${pluginPath(plugin.name)}?level=${candidate}#logs-title"${candidate === level ? html` aria-current="true"` : ''}>${candidate}${candidate === 'error' ? '' : '+'}</a>`)}</nav>
${
  lines.length === 0
    ? html`<p class="empty">No log lines at ${level} or above.</p>`
    : html`<ol class="logs">${lines.map((line) => html`<li class="log log-${line.level}"><time datetime="${line.at}">${line.at}</time> <span class="level">${line.level}</span> <span class="message">${line.message}</span>${line.fields ? html` <code class="fields">${JSON.stringify(line.fields)}</code>` : ''}</li>`)}</ol>`
}
</section>`;
}

function configSection(context: PageContext, data: PluginPageData): Markup {
  const { plugin, schema } = data;
  if (!schema || Object.keys((schema as { properties?: object }).properties ?? {}).length === 0) {
    return html`<section aria-labelledby="config-title"><h3 id="config-title">Config</h3><p class="empty">This version takes no config.</p></section>`;
  }
  const config = data.draft?.config ?? plugin.config;
  return html`<section aria-labelledby="config-title"><h3 id="config-title">Config</h3>
<form method="post" action="${pluginPath(plugin.name, '/config')}" data-config-form novalidate>
${csrfField(context)}
${renderConfigFields(schema, config, data.draft ? { errors: data.draft.errors } : {})}
<p class="hint">Secrets are write-only: leave a secret empty to keep the stored one.</p>
<button type="submit" name="_form" value="save" class="primary">Save config</button>
</form>
</section>`;
}

function versionSection(context: PageContext, data: PluginPageData): Markup {
  const { plugin } = data;
  const known = data.versions;
  let choice: Markup;
  if (!known || 'error' in known) {
    choice = html`<input id="version-spec" name="spec" required value="${plugin.spec}" aria-describedby="version-help">
<p class="hint" id="version-help">${known ? html`The registry could not be asked (${known.error}): type a version, range or dist-tag.` : 'A version, range or dist-tag.'}</p>`;
  } else {
    const tagsOf = (version: string) => Object.entries(known.distTags).filter(([, tagged]) => tagged === version).map(([tag]) => tag);
    choice = html`<select id="version-spec" name="spec">${known.versions.map((version) => {
      const tags = tagsOf(version);
      return html`<option value="${version}"${version === plugin.version ? ' selected' : ''}>${version}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}${version === plugin.version ? ' · running' : ''}</option>`;
    })}</select>`;
  }
  return html`<section aria-labelledby="version-title"><h3 id="version-title">Version</h3>
<p>Running <strong class="version">${plugin.version}</strong> from the spec <code>${plugin.spec}</code>. A change keeps the config (checked against the new version's schema); if the new version does not start, this one keeps running.</p>
<form method="post" action="${pluginPath(plugin.name, '/version')}" class="row">
${csrfField(context)}
<label for="version-spec">Version</label>
${choice}
<button type="submit">Change version</button>
</form>
</section>`;
}

function grantsSection(context: PageContext, plugin: Described): Markup {
  const missing = missingCapabilities(plugin.requested, plugin.granted) as string[];
  const requested: string[] = plugin.requested;
  const extra = plugin.granted.filter((grant) => !requested.includes(grant));
  return html`<section aria-labelledby="grants-title"><h3 id="grants-title">Capabilities</h3>
${
  plugin.requested.length === 0 && plugin.granted.length === 0
    ? html`<p class="empty">This version requests no capabilities.</p>`
    : html`<form method="post" action="${pluginPath(plugin.name, '/grants')}">
${csrfField(context)}
<fieldset><legend>Granted to ${plugin.name}</legend>
${[...plugin.requested, ...extra].map(
  (capability, index) => html`<label class="check"><input type="checkbox" name="grant" value="${capability}" id="grant-${index}"${plugin.granted.includes(capability) ? ' checked' : ''}> <code>${capability}</code>${missing.includes(capability) ? html` <span class="capability missing">requested, not granted</span>` : ''}${extra.includes(capability) ? ' (not requested by this version)' : ''}</label>`,
)}
</fieldset>
<button type="submit">Save grants</button>
</form>`
}
</section>`;
}

/** The plugin page. */
export function renderPluginPage(context: PageContext, data: PluginPageData): string {
  const { plugin } = data;
  return page(context, {
    title: plugin.name,
    section: 'chain',
    scripts: data.schema ? [configValidatorId(data.schema)] : [],
    body: html`<p class="crumbs"><a href="/console">Chain</a> › ${plugin.name}</p>
<h2 class="plugin-title" data-plugin="${plugin.name}"><span class="name">${plugin.name}</span> <span class="version">${plugin.version}</span> <span class="status status-${plugin.status}">${plugin.status}</span></h2>
<dl class="facts">
  <dt>spec</dt><dd>${plugin.spec}</dd>
  <dt>hooks</dt><dd>${plugin.hooks.length > 0 ? plugin.hooks.join(', ') : html`<span class="empty">none running</span>`}</dd>
  <dt>integrity</dt><dd><code>${plugin.integrity}</code></dd>
  <dt>restarts</dt><dd>${plugin.restarts}</dd>
</dl>
<div class="panels">
${metrics(plugin)}
${errors(plugin)}
</div>
${configSection(context, data)}
${versionSection(context, data)}
${grantsSection(context, plugin)}
${logs(plugin, data.level)}`,
  });
}
