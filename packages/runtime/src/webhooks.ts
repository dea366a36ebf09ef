import type { PluginEvent } from '@plugline/sdk';
import type { ComposedWebhook, PluginSandbox } from './sandbox/sandbox.js';

/** How the host retries a composed webhook (a simple retry; durable retries are the delivery work's). */
export interface WebhookRetry {
  /** Attempts per webhook, the first included (default 3). */
  attempts: number;
  /** Wait before attempt n+1, ms (default 200, 1000). */
  delaysMs: readonly number[];
}

export const defaultWebhookRetry: WebhookRetry = { attempts: 3, delaysMs: [200, 1000] };

/** What happened to one event's webhook. */
export type WebhookOutcome =
  | { index: number; status: 'delivered'; httpStatus: number; attempts: number }
  | { index: number; status: 'failed'; message: string; attempts: number }
  | { index: number; status: 'compose-failed'; message: string; errorName: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * PostHog's `composeWebhook` run by the host: the plugin composes `{ url, method, headers, body }` per
 * event inside its isolate (one crossing for the batch), and the host sends each request through the
 * plugin's own host fetch path (so the runtime's fetch rules and any egress policy apply, and the
 * plugin never sees the answer, as in PostHog). A network error, a 5xx or a 429 is retried
 * (`retry.attempts`, waiting `retry.delaysMs`); other statuses are final. Retries live in memory: a
 * runtime stopped in between loses them (durable webhook retries are not built yet).
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
      const { url, method, headers, body } = entry.webhook;
      const request = { url, method, headers: Object.entries(headers), body: method === 'GET' || method === 'HEAD' ? null : body, bodyBase64: null };
      let last = '';
      for (let attempt = 1; attempt <= Math.max(1, retry.attempts); attempt++) {
        try {
          const response = await sandbox.hostFetch(request);
          if (response.status < 500 && response.status !== 429) {
            if (response.status >= 200 && response.status < 300) return { index, status: 'delivered', httpStatus: response.status, attempts: attempt };
            return { index, status: 'failed', message: `${method} ${url} answered ${response.status} ${response.statusText}`.trim(), attempts: attempt };
          }
          last = `${method} ${url} answered ${response.status} ${response.statusText}`.trim();
        } catch (error) {
          const cause = (error as { cause?: { code?: unknown } }).cause;
          last = `${method} ${url} failed: ${(error as Error).message}${cause?.code ? ` (${String(cause.code)})` : ''}`;
        }
        if (attempt < retry.attempts) await sleep(retry.delaysMs[Math.min(attempt - 1, retry.delaysMs.length - 1)] ?? 0);
      }
      return { index, status: 'failed', message: last, attempts: Math.max(1, retry.attempts) };
    }),
  );
  return outcomes.filter((outcome): outcome is WebhookOutcome => outcome !== undefined);
}
