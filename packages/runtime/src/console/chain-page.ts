import { missingCapabilities } from '@plugline/sdk';
import type { Runtime } from '../runtime.js';
import { html, type Markup } from './html.js';
import { type PageContext, page, postButton } from './layout.js';

// The console's chain page: the plugins in chain order with status, version and spec, requested and
// granted capabilities (a requested one that is not granted is marked), error counts by code and the
// last errors, and the controls: move up or down, enable or disable, remove (behind a confirmation),
// and a link to the plugin's own page. Server-rendered from Runtime.describePlugins; every control is
// a plain form (routes.ts), so the page works without script.

type Described = ReturnType<Runtime['describePlugins']>[number];

/** The console path of a plugin's page (names may be scoped: `@scope/name` is one path segment). */
export function pluginPath(name: string, suffix = ''): string {
  return `/console/plugins/${encodeURIComponent(name)}${suffix}`;
}

function capabilities(list: readonly string[], missing: readonly string[] = []): Markup {
  if (list.length === 0) return html`<span class="empty">none</span>`;
  return html`${list.map((capability) => html`<span class="capability${missing.includes(capability) ? ' missing' : ''}">${capability}${missing.includes(capability) ? ' (not granted)' : ''}</span>`)}`;
}

function controls(context: PageContext, plugin: Described, index: number, count: number): Markup {
  const name = plugin.name;
  return html`<div class="controls">
  <a class="button" href="${pluginPath(name)}">Configure, logs &amp; metrics</a>
  ${index > 0 ? postButton(context, pluginPath(name, '/move'), '↑ Up', { fields: { to: String(index - 1) }, ariaLabel: `Move ${name} up` }) : ''}
  ${index < count - 1 ? postButton(context, pluginPath(name, '/move'), '↓ Down', { fields: { to: String(index + 1) }, ariaLabel: `Move ${name} down` }) : ''}
  ${plugin.enabled === false ? postButton(context, pluginPath(name, '/enable'), 'Enable', { ariaLabel: `Enable ${name}` }) : postButton(context, pluginPath(name, '/disable'), 'Disable', { ariaLabel: `Disable ${name}` })}
  <details class="confirm"><summary>Remove…</summary><p>Remove ${name} from the chain? Its config and grants are forgotten.</p>${postButton(context, pluginPath(name, '/remove'), `Remove ${name}`, { className: 'danger' })}</details>
</div>`;
}

function pluginCard(context: PageContext, plugin: Described, index: number, count: number): Markup {
  const missing = missingCapabilities(plugin.requested, plugin.granted) as string[];
  const byCode = Object.entries(plugin.errors.byCode);
  const recent = plugin.recentErrors.slice(-5).reverse();
  return html`<li class="plugin" data-plugin="${plugin.name}">
  <span class="position" aria-label="position ${index + 1}">${index + 1}</span>
  <h3><a class="name" href="${pluginPath(plugin.name)}">${plugin.name}</a> <span class="version">${plugin.version}</span> <span class="status status-${plugin.status}">${plugin.status}</span></h3>
  <dl class="facts">
    <dt>spec</dt><dd class="spec">${plugin.spec}</dd>
    <dt>hooks</dt><dd class="hooks">${plugin.hooks.length > 0 ? plugin.hooks.join(', ') : html`<span class="empty">none running</span>`}</dd>
    <dt>requests</dt><dd class="requested">${capabilities(plugin.requested, missing)}</dd>
    <dt>granted</dt><dd class="granted">${capabilities(plugin.granted)}</dd>
    <dt>errors</dt><dd class="error-counts">${byCode.length > 0 ? byCode.map(([code, count]) => html`<span class="capability">${code} × ${count}</span>`) : html`<span class="empty">none</span>`}</dd>
  </dl>
  ${
    recent.length > 0
      ? html`<div class="errors"><h4>Last errors</h4><ul>${recent.map((error) => html`<li><code>${error.code}</code> ${error.hook}: <span class="message">${error.message}</span> <time datetime="${error.at}">${error.at}</time></li>`)}</ul></div>`
      : ''
  }
  ${controls(context, plugin, index, count)}
</li>`;
}

/** The whole chain page. */
export function renderChainPage(context: PageContext, runtime: Runtime): string {
  const plugins = runtime.describePlugins();
  const running = plugins.filter((plugin) => plugin.status === 'running').length;
  return page(context, {
    title: 'Chain',
    section: 'chain',
    body: html`<h2 id="chain-title">Chain: ${plugins.length} plugin${plugins.length === 1 ? '' : 's'}, ${running} running</h2>
<p class="lead">Events go through these plugins from top to bottom; exports see each event after the whole chain.</p>
${
  plugins.length > 0
    ? html`<ol class="chain" aria-labelledby="chain-title">${plugins.map((plugin, index) => pluginCard(context, plugin, index, plugins.length))}</ol>`
    : html`<p class="empty">No plugins yet. <a href="/console/install">Install one from the registry</a>.</p>`
}`,
  });
}
