import type { PluginEvent } from '@plugline/sdk';
import type { ComposedWebhook, PluginSandbox } from './sandbox/sandbox.js';

/** How the host retries a composed webhook right away, before a failure becomes a durable retry. */
export interface WebhookRetry {
  /** Attempts per webhook, the first included (default 3). */
  attempts: number;
  /** Wait before attempt n+1, ms (default 200, 1000). */
  delaysMs: readonly number[];
}

export const defaultWebhookRetry: WebhookRetry = { attempts: 3, delaysMs: [200, 1000] };

/** A composed request as the host's fetch takes it (JSON: what a durable retry stores). */
export interface WebhookRequest {
  url: string;
  method: string;
  headers: [string, string][];
  body: string | null;
  bodyBase64: null;
}

/** The request the host sends for a webhook composeWebhook composed (no body for GET and HEAD). */
export function toWebhookRequest(webhook: { url: string; method: string; headers: Record<string, string>; body: string | null }): WebhookRequest {
  const { url, method, headers, body } = webhook;
  return { url, method, headers: Object.entries(headers), body: method === 'GET' || method === 'HEAD' ? null : body, bodyBase64: null };
}

/** What happened to one event's webhook. `retryable` failures (network, 5xx, 429) go on as durable retries. */
export type WebhookOutcome =
  | { index: number; status: 'delivered'; httpStatus: number; attempts: number }
  | { index: number; status: 'failed'; message: string; attempts: number; retryable: boolean; request: WebhookRequest }
  | { index: number; status: 'compose-failed'; message: string; errorName: string };

/** One attempt at one request: delivered (2xx), worth retrying (network error, 5xx, 429) or failed for good. */
export type WebhookAttempt = { ok: true; httpStatus: number } | { retry: string } | { failed: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one composed request through the plugin's host fetch path (the egress policy applies there). */
export async function attemptWebhook(sandbox: PluginSandbox, request: WebhookRequest): Promise<WebhookAttempt> {
  try {
    const response = await sandbox.hostFetch(request);
    const line = `${request.method} ${request.url} answered ${response.status} ${response.statusText}`.trim();
    if (response.status >= 200 && response.status < 300) return { ok: true, httpStatus: response.status };
    return response.status >= 500 || response.status === 429 ? { retry: line } : { failed: line };
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    return { retry: `${request.method} ${request.url} failed: ${(error as Error).message}${cause?.code ? ` (${String(cause.code)})` : ''}` };
  }
}

/**
 * PostHog's `composeWebhook` run by the host: the plugin composes `{ url, method, headers, body }` per
 * event inside its isolate (one crossing for the batch), and the host sends each request through the
 * plugin's own host fetch path (so the runtime's fetch rules and the egress policy apply, and the
 * plugin never sees the answer, as in PostHog). A network error, a 5xx or a 429 is retried at once
 * (`retry.attempts`, waiting `retry.delaysMs`), then reported `retryable` with its request, which the
 * runtime turns into a durable retry (durable-retry.ts: stored, so it survives a crash, with the export
 * batches' policy); other statuses are final.
 */
export async function deliverComposedWebhooks(
  sandbox: PluginSandbox,
  events: readonly PluginEvent[],
  retry: WebhookRetry = defaultWebhookRetry,
): Promise<WebhookOutcome[]> {
  const composed: ComposedWebhook[] = await sandbox.composeWebhooks(JSON.stringify(events), events.length);
  const outcomes = await Promise.all(
    composed.map(async (entry, index): Promise<WebhookOutcome | undefined> => {
      if (entry === null) return undefined;
      if ('error' in entry) return { index, status: 'compose-failed', message: entry.error.message, errorName: entry.error.errorName };
      const request = toWebhookRequest(entry.webhook);
      const attempts = Math.max(1, retry.attempts);
      let last = '';
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const outcome = await attemptWebhook(sandbox, request);
        if ('ok' in outcome) return { index, status: 'delivered', httpStatus: outcome.httpStatus, attempts: attempt };
        if ('failed' in outcome) return { index, status: 'failed', message: outcome.failed, attempts: attempt, retryable: false, request };
        last = outcome.retry;
        if (attempt < attempts) await sleep(retry.delaysMs[Math.min(attempt - 1, retry.delaysMs.length - 1)] ?? 0);
      }
      return { index, status: 'failed', message: last, attempts, retryable: true, request };
    }),
  );
  return outcomes.filter((outcome): outcome is WebhookOutcome => outcome !== undefined);
}
