import type { PluginEvent } from '@plugline/sdk';
import type { DryRunResult } from '../dry-run.js';
import { html, type Markup } from './html.js';
import { renderJsonDiff } from './json-diff.js';
import { csrfField, type PageContext, page } from './layout.js';

// The event tester: paste an event or pick a stored one, run it through the chain as a dry run
// (dry-run.ts: nothing stored, exported or sent by the runtime) and see what each step did as a diff,
// then the event as it would be stored, the webhooks that would be sent and the exports that would
// receive it.

/** A sample event for an empty tester. */
export const sampleEvent = { event: '$pageview', distinct_id: 'user-1', properties: { $current_url: 'https://example.com/pricing', $ip: '8.8.8.8' } };

/** What the tester page shows. */
export interface TesterPageData {
  /** The last stored events, to pick from. */
  stored: readonly PluginEvent[];
  /** The pasted text (kept on a re-render). */
  text: string;
  uuid?: string;
  error?: string;
  result?: DryRunResult;
}

function stepCard(step: DryRunResult['steps'][number], index: number): Markup {
  return html`<li class="step step-${step.status}" data-step="${step.plugin}">
<h4><span class="position">${index + 1}</span> ${step.plugin} <span class="version">${step.version}</span> <span class="status status-${step.status}">${step.status}</span>${step.reason ? html` <span class="hint">(${step.reason})</span>` : ''}${step.status === 'skipped' ? '' : html` <span class="hint">${step.durationMs.toFixed(1)} ms</span>`}</h4>
${step.error ? html`<p class="error"><code>${step.error.code}</code> <span class="message">${step.error.message}</span></p>` : ''}
${step.status === 'changed' || step.status === 'dropped' ? renderJsonDiff(step.before, step.after) : step.status === 'unchanged' ? html`<p class="hint">No change.</p>` : ''}
</li>`;
}

function results(result: DryRunResult): Markup {
  return html`<section aria-labelledby="result-title" class="dry-run">
<h3 id="result-title">Dry run: ${result.output === null ? 'the event is dropped' : 'the event would be stored'}</h3>
<p class="hint">${result.note}</p>
${result.duplicate ? html`<p class="flash flash-error" role="status">An event with this uuid is stored already: a real capture would skip it as a duplicate.</p>` : ''}
<ol class="steps">${result.steps.map((step, index) => stepCard(step, index))}</ol>
${result.output === null ? '' : html`<h4>Output</h4><pre class="json output">${JSON.stringify(result.output, null, 2)}</pre>`}
<h4>Exports that would receive it</h4>
${result.exports.length === 0 ? html`<p class="empty">None.</p>` : html`<ul class="exports">${result.exports.map((name) => html`<li>${name}</li>`)}</ul>`}
<h4>Webhooks that would be sent (not sent)</h4>
${
  result.webhooks.length === 0
    ? html`<p class="empty">None.</p>`
    : html`<ul class="webhooks">${result.webhooks.map((webhook) => webhook.request
          ? html`<li data-webhook="${webhook.plugin}"><strong>${webhook.plugin}</strong>: <code>${webhook.request.method} ${webhook.request.url}</code><pre class="json">${JSON.stringify(webhook.request, null, 2)}</pre></li>`
          : html`<li data-webhook="${webhook.plugin}"><strong>${webhook.plugin}</strong>: composeWebhook failed: <code>${webhook.error?.code ?? ''}</code> <span class="message">${webhook.error?.message ?? ''}</span></li>`)}</ul>`
}
</section>`;
}

/** The tester page, with a dry run's result when one ran. */
export function renderTesterPage(context: PageContext, data: TesterPageData): string {
  return page(context, {
    title: 'Event tester',
    section: 'tester',
    body: html`<h2>Event tester</h2>
<p class="lead">Runs one event through the chain's processEvent steps as a dry run: the runtime stores nothing, exports nothing and sends no webhook. What a plugin's own processEvent does (a fetch, its storage) still happens.</p>
<form method="post" action="/console/tester">
${csrfField(context)}
<label for="tester-event">Event (JSON, as a client would capture it)</label>
<textarea id="tester-event" name="event" rows="10" spellcheck="false"${data.error ? html` aria-invalid="true" aria-describedby="tester-error"` : ''}>${data.text}</textarea>
${data.error ? html`<p class="field-error" id="tester-error" role="alert">${data.error}</p>` : ''}
<label for="tester-uuid">…or a stored event</label>
<select id="tester-uuid" name="uuid"><option value="">(use the JSON above)</option>${data.stored.map((event) => html`<option value="${event.uuid}"${event.uuid === data.uuid ? ' selected' : ''}>${event.event} · ${event.distinct_id} · ${event.timestamp ?? ''}</option>`)}</select>
<button type="submit" class="primary">Run dry run</button>
</form>
${data.result ? results(data.result) : ''}`,
  });
}
