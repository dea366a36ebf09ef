import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** AWS credentials for signing. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** What {@link signRequest} needs to sign one request. */
export interface SignInput {
  method: string;
  url: URL;
  /** Headers to sign and send (names in any case); `host`, `x-amz-date` and `x-amz-content-sha256` are added. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body ({@link hashPayload}), or `UNSIGNED-PAYLOAD`. */
  payloadHash: string;
  credentials: AwsCredentials;
  region: string;
  service?: string;
  date: Date;
}

const encoder = new TextEncoder();

/** Hex SHA-256 of a body, as `x-amz-content-sha256` wants it. */
export const hashPayload = (body: Uint8Array | string): string => bytesToHex(sha256(typeof body === 'string' ? encoder.encode(body) : body));

/** RFC 3986 encoding of one path segment or query part, as SigV4 canonicalizes it. */
export const encodeRfc3986 = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);

const hmacSha256 = (key: Uint8Array | string, data: string) => hmac(sha256, typeof key === 'string' ? encoder.encode(key) : key, encoder.encode(data));

/** `20260101T000000Z` and `20260101`. */
export function amzDates(date: Date): { amzDate: string; day: string } {
  const amzDate = date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return { amzDate, day: amzDate.slice(0, 8) };
}

/**
 * Signs a request with AWS Signature Version 4 (header-based, single chunk) and returns the headers to
 * send: the given ones plus `host`, `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with a
 * session token) and `authorization`. The URL's path must already be encoded as it will be sent.
 *
 * Written by hand because the plugin runs in a bare V8 isolate: the AWS SDK v3 only bundles without
 * Node built-ins when the bundler applies package.json `browser` maps, which a platform-neutral pack does not.
 */
export function signRequest(input: SignInput): Record<string, string> {
  const service = input.service ?? 's3';
  const { amzDate, day } = amzDates(input.date);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers)) headers[name.toLowerCase()] = value.trim().replace(/\s+/g, ' ');
  headers.host = input.url.host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] = input.payloadHash;
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalQuery = [...input.url.searchParams]
    .map(([key, value]) => [encodeRfc3986(key), encodeRfc3986(value)] as const)
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : x > y ? 1 : 0) : a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const canonicalRequest = [
    input.method.toUpperCase(),
    input.url.pathname || '/',
    canonicalQuery,
    ...names.map((name) => `${name}:${headers[name]}`),
    '',
    names.join(';'),
    input.payloadHash,
  ].join('\n');
  const scope = `${day}/${input.region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, bytesToHex(sha256(encoder.encode(canonicalRequest)))].join('\n');
  const signingKey = [day, input.region, service, 'aws4_request'].reduce<Uint8Array | string>((key, part) => hmacSha256(key, part), `AWS4${input.credentials.secretAccessKey}`);
  const signature = bytesToHex(hmacSha256(signingKey, stringToSign));
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}
