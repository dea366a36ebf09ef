import type { Runtime } from '../runtime.js';
import type { DeadLetter } from '../store.js';
import { html, type Markup } from './html.js';
import { type PageContext, page, postButton } from './layout.js';

// The exports page: per exporting plugin, what waits (events buffered, batches pending and in retry
// with their next attempt and last error, durable retries of other hooks), and the dead letters, each
// with a re-drive button, plus a bulk re-drive per plugin. Re-driving puts a dead letter's batch back
// into the plugin's export queue (runtime.replayDeadLetter).

const when = (ms: number | null) => (ms === null ? '–' : new Date(ms).toISOString());

function deadLetterRow(context: PageContext, runtime: Runtime, letter: DeadLetter): Markup {
  return html`<tr data-dead-letter="${letter.id}">
<td>${letter.id}</td>
<td>${letter.plugin} <span class="version">${letter.version}</span></td>
<td>${letter.hook}</td>
<td><code>${letter.code}</code> <span class="message">${runtime.scrubPluginText(letter.plugin, letter.reason)}</span></td>
<td>${letter.eventCount}</td>
<td>${letter.attempts}</td>
<td><time datetime="${letter.createdAt}">${letter.createdAt}</time></td>
<td>${postButton(context, `/console/dead-letters/${letter.id}/replay`, 'Re-drive', { ariaLabel: `Re-drive dead letter ${letter.id}` })}</td>
</tr>`;
}

/** The exports page. */
export function renderExportsPage(context: PageContext, runtime: Runtime): string {
  const progress = runtime.deliveryProgress();
  const plugins = runtime.describePlugins().filter((plugin) => plugin.pendingExportBatches !== undefined || progress.some((row) => row.plugin === plugin.name && (row.deadLetters > 0 || row.pendingRetries > 0)));
  const deadLetters = runtime.store.deadLetters({ limit: 500 });
  return page(context, {
    title: 'Exports',
    section: 'exports',
    body: html`<h2>Exports</h2>
<p class="lead">Exports see each event after the chain. A failed batch is retried on the export policy's schedule; one that runs out of attempts becomes a dead letter, kept here until it is re-driven.</p>
${
  plugins.length === 0
    ? html`<p class="empty">No plugin of the chain exports events.</p>`
    : html`<div class="table-wrap"><table class="delivery"><thead><tr><th scope="col">Plugin</th><th scope="col">Buffered events</th><th scope="col">Batches pending</th><th scope="col">In retry</th><th scope="col">Next attempt</th><th scope="col">Other retries</th><th scope="col">Dead letters</th></tr></thead><tbody>${plugins.map((plugin) => {
        const row = progress.find((candidate) => candidate.plugin === plugin.name);
        return html`<tr data-plugin="${plugin.name}"><th scope="row">${plugin.name}</th><td data-metric="buffered">${row?.bufferedEvents ?? 0}</td><td data-metric="pending">${row?.pendingBatches ?? 0}</td><td data-metric="in-retry">${row?.batchesInRetry ?? 0}</td><td>${when(row?.nextBatchAttemptAt ?? null)}</td><td>${row?.pendingRetries ?? 0}</td><td data-metric="dead-letters">${row?.deadLetters ?? 0}</td></tr>`;
      })}</tbody></table></div>
${plugins.map((plugin) => {
  const batches = (plugin.pendingExportBatches ?? []).filter((batch) => batch.attempts > 0);
  return batches.length === 0
    ? ''
    : html`<h3>${plugin.name}: batches in retry</h3><ul class="error-list">${batches.map((batch) => html`<li>batch ${batch.id}: ${batch.attempts} attempt${batch.attempts === 1 ? '' : 's'}, next at ${when(batch.nextAttemptAt)}${batch.lastError ? html`, last error <span class="message">${batch.lastError}</span>` : ''}</li>`)}</ul>`;
})}`
}
<h3 id="dead-letters-title">Dead letters (${deadLetters.length})</h3>
${
  deadLetters.length === 0
    ? html`<p class="empty">No dead letters.</p>`
    : html`<div class="bulk">${[...new Set(deadLetters.map((letter) => letter.plugin))].map((name) => postButton(context, '/console/dead-letters/replay', `Re-drive all of ${name}`, { fields: { plugin: name } }))}</div>
<div class="table-wrap"><table class="dead-letters" aria-labelledby="dead-letters-title"><thead><tr><th scope="col">#</th><th scope="col">Plugin</th><th scope="col">Hook</th><th scope="col">Reason</th><th scope="col">Events</th><th scope="col">Attempts</th><th scope="col">Since</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead><tbody>${deadLetters.map((letter) => deadLetterRow(context, runtime, letter))}</tbody></table></div>`
}`,
  });
}
