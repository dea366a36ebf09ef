import { missingCapabilities } from '@plugline/sdk';
import type { Runtime } from '../runtime.js';
import { html, type Markup } from './html.js';

// The console's chain page (read-only): the plugins in chain order with status, version and spec,
// requested and granted capabilities (a requested one that is not granted is marked), error counts by
// code and the last errors. Server-rendered from Runtime.describePlugins; no script.

type Described = ReturnType<Runtime['describePlugins']>[number];

function capabilities(list: readonly string[], missing: readonly string[] = []): Markup {
  if (list.length === 0) return html`<span class="empty">none</span>`;
  return html`${list.map((capability) => html`<span class="capability${missing.includes(capability) ? ' missing' : ''}">${capability}${missing.includes(capability) ? ' (not granted)' : ''}</span>`)}`;
}

function pluginCard(plugin: Described, index: number): Markup {
  const missing = missingCapabilities(plugin.requested, plugin.granted) as string[];
  const byCode = Object.entries(plugin.errors.byCode);
  const recent = plugin.recentErrors.slice(-5).reverse();
  return html`<li class="plugin" data-plugin="${plugin.name}">
  <span class="position" aria-label="position ${index + 1}">${index + 1}</span>
  <h3><span class="name">${plugin.name}</span> <span class="version">${plugin.version}</span> <span class="status status-${plugin.status}">${plugin.status}</span></h3>
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
</li>`;
}

/** The whole chain page. */
export function renderChainPage(runtime: Runtime): string {
  const plugins = runtime.describePlugins();
  const running = plugins.filter((plugin) => plugin.status === 'running').length;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chain · Plugline runtime</title>
<link rel="icon" href="/console/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<header><h1>Plugline runtime</h1><p>${runtime.dir}</p></header>
<main>
<h2 id="chain-title">Chain: ${plugins.length} plugin${plugins.length === 1 ? '' : 's'}, ${running} running</h2>
${
  plugins.length > 0
    ? html`<ol class="chain" aria-labelledby="chain-title">${plugins.map((plugin, index) => pluginCard(plugin, index))}</ol>`
    : html`<p class="empty">No plugins. Add one with <code>plugline install name@version</code>.</p>`
}
</main>
</body>
</html>
`.value;
}
