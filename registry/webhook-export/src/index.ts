import { RetryError, definePlugin } from '@plugline/sdk';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** The header that carries the signature: `sha256=<hex HMAC-SHA256 of the raw body with the secret>`. */
export const SIGNATURE_HEADER = 'X-Plugline-Signature';

/** Signs a request body the way receivers verify it. */
export function sign(body: string, secret: string): string {
  const encoder = new TextEncoder();
  return `sha256=${bytesToHex(hmac(sha256, encoder.encode(secret), encoder.encode(body)))}`;
}

/** The header that names a batch: the same events always get the same key, so a receiver can drop a redelivery. */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** The idempotency key of a batch: hex SHA-256 of its event uuids in order, one per line. */
export function idempotencyKey(events: readonly { uuid: string }[]): string {
  return bytesToHex(sha256(new TextEncoder().encode(events.map((event) => event.uuid).join('\n'))));
}

/** HTTP statuses worth retrying: rate limiting and server errors. Other 4xx are the request's fault. */
export const isRetryableStatus = (status: number): boolean => status === 429 || status === 408 || status >= 500;

/**
 * POSTs each batch of stored events as JSON (`{ "events": [...] }`) to a URL, signed with an HMAC-SHA256
 * of the body in the `X-Plugline-Signature` header. 429, 408 and 5xx answers and network failures throw
 * a `RetryError`, so the runtime retries the batch with backoff; any other non-2xx answer is permanent.
 */
export default definePlugin({
  config: {
    type: 'object',
    required: ['url', 'secret'],
    properties: {
      url: { type: 'string', format: 'uri', pattern: '^https?://', description: 'The http(s) URL the batches are POSTed to.' },
      secret: {
        type: 'string',
        minLength: 1,
        writeOnly: true,
        description: 'Shared secret for the X-Plugline-Signature header (HMAC-SHA256 of the body). Never shown after it is set.',
      },
      headers: {
        type: 'object',
        // Header values are credentials (Authorization, API keys): secret at every key.
        additionalProperties: { type: 'string', writeOnly: true },
        default: {},
        description: 'Extra request headers, e.g. { "Authorization": "Bearer ..." }. Their values are secrets (writeOnly): never shown after they are set.',
      },
    },
  },
  async exportEvents(events, { config, fetch, logger, metrics }) {
    if (events.length === 0) return;
    const body = JSON.stringify({ events });
    let response: Response;
    try {
      response = await fetch(config.url, {
        method: 'POST',
        headers: {
          ...config.headers,
          'Content-Type': 'application/json',
          [SIGNATURE_HEADER]: sign(body, config.secret),
          'X-Plugline-Event-Count': String(events.length),
          [IDEMPOTENCY_HEADER]: idempotencyKey(events),
        },
        body,
      });
    } catch (error) {
      // Connection refused, DNS, reset: transient from where we stand.
      throw new RetryError(`POST ${config.url} failed: ${(error as Error).message}`);
    }
    if (response.ok) {
      metrics.increment('events_exported', events.length);
      logger.debug('exported a batch', { count: events.length, status: response.status });
      return;
    }
    const detail = (await response.text().catch(() => '')).slice(0, 200);
    const message = `POST ${config.url} answered HTTP ${response.status}${detail ? `: ${detail}` : ''}`;
    if (isRetryableStatus(response.status)) throw new RetryError(message);
    throw new Error(message);
  },
});
