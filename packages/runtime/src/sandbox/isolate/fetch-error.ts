/**
 * node-fetch's `FetchError` (v2, the version PostHog plugins import): `name` 'FetchError', `type`
 * ('system' for a network failure, 'request-timeout', 'max-size'), and for system errors `code` and
 * `errno` (ECONNREFUSED, ENOTFOUND...). The global fetch rejects with it on network failures, so a
 * plugin testing `err.name === 'FetchError'` or `err.code` works as under node-fetch. It extends
 * TypeError, so code written for the web's fetch (`err instanceof TypeError`) keeps working too.
 */
export class FetchError extends TypeError {
  readonly type: string;
  code: string | undefined;
  errno: string | undefined;
  constructor(message: string, type: string, systemError?: { code?: unknown; errno?: unknown }) {
    super(message);
    this.type = type;
    this.code = undefined;
    this.errno = undefined;
    if (systemError && systemError.code !== undefined) {
      this.code = String(systemError.code);
      this.errno = String(systemError.errno ?? systemError.code);
    }
  }
  override get name(): string {
    return 'FetchError';
  }
  get [Symbol.toStringTag](): string {
    return 'FetchError';
  }
}

/** The FetchError for a failed host fetch of `url` (the host's error name, message and code). */
export function fetchErrorOf(url: string, failure: { name?: unknown; message?: unknown; code?: unknown }): Error {
  const name = typeof failure.name === 'string' ? failure.name : 'Error';
  const message = String(failure.message ?? 'fetch failed');
  if (name === 'TimeoutError' || name === 'AbortError') return new FetchError(`network timeout at: ${url}`, 'request-timeout');
  if (/larger than \d+ bytes/.test(message)) return new FetchError(`content size at ${url} over limit: ${message}`, 'max-size');
  const code = failure.code;
  const reason = code !== undefined && message === 'fetch failed' ? String(code) : message;
  return new FetchError(`request to ${url} failed, reason: ${reason}`, 'system', code === undefined ? undefined : { code });
}
