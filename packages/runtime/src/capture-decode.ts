import { gunzipSync } from 'node:zlib';
import { PluglineError } from '@plugline/sdk';
// The most bytes a gzip body may inflate to (a zip bomb stops here, not in memory): the request cap of
// the ingest limits, so no gzip amplification goes past it.
import { MAX_INFLATED_BYTES } from './limits.js';

export { MAX_INFLATED_BYTES };

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

function invalid(message: string): never {
  throw new PluglineError('ERR_PAYLOAD_INVALID', message);
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function gunzip(bytes: Buffer): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return invalid(`The body inflates to more than ${MAX_INFLATED_BYTES / 1024 / 1024} MiB`);
    return invalid(`The body is not valid gzip: ${(error as Error).message}`);
  }
}

/** Base64 (standard or URL-safe, padding optional) to bytes; a form decoder's `+` -> space is undone. */
function fromBase64(text: string, what: string): Buffer {
  const compact = text.replace(/ /g, '+').replace(/[\r\n\t]/g, '');
  if (compact.length === 0 || !BASE64.test(compact)) invalid(`${what} is not valid base64`);
  return Buffer.from(compact, 'base64');
}

function looksLikeJson(text: string): boolean {
  const first = text.trimStart()[0];
  return first === '{' || first === '[';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    // V8's message quotes a piece of the body ("...secret..." is not valid JSON): answers and logs never echo it.
    const reason = (error as Error).message.replace(/,? *(\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '');
    return invalid(`The body is not valid JSON: ${reason}`);
  }
}

/** Bytes that hold a JSON payload, gzipped (recognised by its magic number) or not. */
function jsonFromBytes(bytes: Buffer): unknown {
  return parseJson((isGzip(bytes) ? gunzip(bytes) : bytes).toString('utf8'));
}

/** Base64 of JSON (or of gzip), when `text` is that; else undefined. */
function unannouncedBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s/g, '');
  if (compact.length < 4 || !BASE64.test(compact)) return undefined;
  const decoded = Buffer.from(compact, 'base64');
  return isGzip(decoded) || looksLikeJson(decoded.toString('utf8')) ? decoded : undefined;
}

function isForm(contentType: string | undefined, body: Buffer): boolean {
  return (contentType?.toLowerCase().includes('application/x-www-form-urlencoded') ?? false) || body.subarray(0, 5).toString('latin1') === 'data=';
}

/**
 * Decodes a capture request body as PostHog clients send it, once, into the JSON payload:
 *
 * - `Content-Encoding: gzip` is inflated by the body parser before this runs;
 * - a gzip body (`?compression=gzip-js`, or posthog-js's gzip-js, which sends no parameter: recognised
 *   by its magic number) is inflated;
 * - a form body (`application/x-www-form-urlencoded`, or a body starting with `data=`: posthog-js's
 *   base64 transport and its `sendBeacon` Blob) carries the payload in `data`, as JSON or base64, decoded
 *   once whatever `?compression` says (the form value *is* the base64 that `compression=base64` announces);
 * - `?compression=base64` with a plain body: the body is base64 (JSON as it is is accepted too);
 * - anything else (`application/json`, `text/plain`, a Blob of either) is JSON; a body that is not JSON
 *   but is the base64 of a JSON (or gzip) payload is accepted too, as PostHog's capture does.
 *
 * `compression` is the request's `?compression=` (`gzip-js`, `gzip`, `base64`; `lz64`, which no current
 * client sends, is refused). Throws `ERR_PAYLOAD_INVALID` with the reason when the body is no payload.
 * Size bounds on the decoded payload belong to the caller (this function only caps gzip inflation).
 *
 * @example
 * ```ts
 * decodeCaptureBody(Buffer.from('data=eyJldmVudCI6ImUifQ%3D%3D'), 'application/x-www-form-urlencoded', 'base64');
 * // { event: 'e' }
 * ```
 */
export function decodeCaptureBody(body: Buffer, contentType: string | undefined, compression: string | undefined): unknown {
  if (body.length === 0) invalid('The request body is empty');
  const mode = compression?.trim().toLowerCase() || undefined;
  if (mode !== undefined && mode !== 'gzip' && mode !== 'gzip-js' && mode !== 'base64') {
    invalid(mode === 'lz64' ? 'compression=lz64 is not supported (current PostHog clients send gzip-js or base64)' : `Unknown compression "${compression}"`);
  }
  if (isGzip(body)) return jsonFromBytes(body);
  if (mode === 'gzip' || mode === 'gzip-js') invalid(`The body is not valid gzip: no gzip header (compression=${mode})`);
  if (isForm(contentType, body)) return decodeForm(body.toString('utf8'));
  const text = body.toString('utf8');
  if (looksLikeJson(text)) return parseJson(text);
  if (mode === 'base64') return jsonFromBytes(fromBase64(text.trim(), 'The body'));
  const decoded = unannouncedBase64(text);
  return decoded ? jsonFromBytes(decoded) : parseJson(text);
}

function decodeForm(text: string): unknown {
  const data = new URLSearchParams(text).get('data');
  if (data === null) invalid('The form body has no "data" field');
  const value = data.trim();
  if (value.length === 0) invalid('The form "data" field is empty');
  if (looksLikeJson(value)) return parseJson(value);
  // The value is base64 (of JSON, or of gzip): decoded exactly once.
  return jsonFromBytes(fromBase64(value, 'The form "data" field'));
}
