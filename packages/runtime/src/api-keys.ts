// Project API keys: with a list configured, the capture routes accept only payloads that carry one of
// them, where PostHog's clients put it, and refuse the rest the way PostHog's capture does.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PluginEvent } from '@plugline/sdk';
import type { Request } from 'express';

/** PostHog's answer to a capture without a valid project API key (status 401). */
export interface ApiKeyRefusal {
  status: 401;
  body: {
    type: 'authentication_error';
    code: 'invalid_api_key' | 'missing_api_key';
    detail: string;
    attr: null;
    /** The same refusal as a Plugline coded error, for Plugline's own clients. */
    error: { code: 'ERR_UNAUTHORIZED'; message: string };
  };
}

/** A set of accepted keys that answers membership without leaking which prefix matched. */
export class ProjectKeys {
  private readonly digests: Buffer[];
  readonly size: number;

  constructor(keys: readonly string[]) {
    const unique = [...new Set(keys.map((key) => key.trim()).filter(Boolean))];
    this.digests = unique.map((key) => digest(key));
    this.size = unique.length;
  }

  has(key: string): boolean {
    const candidate = digest(key);
    let found = false;
    // Every key is compared (no early exit), each in constant time.
    for (const known of this.digests) found = timingSafeEqual(candidate, known) || found;
    return found;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

function stringParam(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The keys a capture request carries, as PostHog reads them: the request-level key (`?api_key=` /
 * `?token=`, a form body's `api_key` / `token` field, the payload's `api_key` / `token`)
 * stands for the whole request; without one, every event's own (`properties.token`, as posthog-js
 * sends it) counts, and an event without one counts as missing (`undefined`).
 */
export function requestKeys(req: Request, payloadKey: string | undefined, events: readonly PluginEvent[]): (string | undefined)[] {
  const query = req.query as Record<string, unknown>;
  let form: URLSearchParams | undefined;
  if (req.get('content-type')?.includes('application/x-www-form-urlencoded') && Buffer.isBuffer(req.body)) form = new URLSearchParams(req.body.toString('utf8'));
  const requestKey =
    stringParam(query.api_key) ??
    stringParam(query.token) ??
    stringParam(form?.get('api_key')) ??
    stringParam(form?.get('token')) ??
    stringParam(payloadKey);
  if (requestKey !== undefined) return [requestKey];
  return events.map((event) => stringParam(event.properties.token) ?? stringParam(event.properties.api_key));
}

const invalidDetail = 'Project API key invalid. You can find your project API key in your Plugline runtime settings (PLUGLINE_API_KEYS).';
const missingDetail = 'API key not provided. You can find your project API key in your Plugline runtime settings (PLUGLINE_API_KEYS).';

/**
 * `undefined` when the request may go on: no key list configured (every key is accepted), or every key
 * it carries is in the list. Otherwise PostHog's 401 (`invalid_api_key`, or `missing_api_key` when the
 * request carries none).
 */
export function projectKeyRefusal(keys: ProjectKeys | undefined, carried: readonly (string | undefined)[]): ApiKeyRefusal | undefined {
  if (!keys || keys.size === 0 || carried.length === 0) return undefined;
  const missing = carried.some((key) => key === undefined);
  const invalid = carried.some((key) => key !== undefined && !keys.has(key));
  if (!missing && !invalid) return undefined;
  const detail = invalid ? invalidDetail : missingDetail;
  return {
    status: 401,
    body: { type: 'authentication_error', code: invalid ? 'invalid_api_key' : 'missing_api_key', detail, attr: null, error: { code: 'ERR_UNAUTHORIZED', message: detail } },
  };
}
