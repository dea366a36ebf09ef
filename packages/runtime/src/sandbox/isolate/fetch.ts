import { type HostFailure, throwIfHostError } from './bridge.js';
import { base64ToBytes, bytesToBase64, TextDecoder } from './encoding.js';
import { fetchErrorOf } from './fetch-error.js';
import { jsonParse, jsonStringify } from './intrinsics.js';
import { URLSearchParams } from './url.js';

/** Headers / Response / fetch: the request is performed by the host (`fetch`); bodies cross as text or base64. */

type HeadersInit = Headers | Iterable<readonly [unknown, unknown]> | Record<string, unknown>;

export class Headers {
  #map = new Map<string, string>();
  constructor(init?: HeadersInit | null) {
    if (!init) return;
    if (init instanceof Headers) {
      for (const [k, v] of init) this.append(k, v);
    } else if (typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const [k, v] of init as Iterable<readonly [unknown, unknown]>) this.append(k, v);
    } else {
      const record = init as Record<string, unknown>;
      for (const k of Object.keys(record)) this.append(k, record[k]);
    }
  }
  append(key: unknown, value: unknown): void {
    const k = String(key).toLowerCase();
    const prev = this.#map.get(k);
    this.#map.set(k, prev === undefined ? String(value) : `${prev}, ${String(value)}`);
  }
  set(k: unknown, v: unknown): void {
    this.#map.set(String(k).toLowerCase(), String(v));
  }
  get(k: unknown): string | null {
    const v = this.#map.get(String(k).toLowerCase());
    return v === undefined ? null : v;
  }
  has(k: unknown): boolean {
    return this.#map.has(String(k).toLowerCase());
  }
  delete(k: unknown): void {
    this.#map.delete(String(k).toLowerCase());
  }
  forEach(fn: (value: string, key: string, headers: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#map) fn.call(thisArg, v, k, this);
  }
  entries(): IterableIterator<[string, string]> {
    return this.#map.entries();
  }
  keys(): IterableIterator<string> {
    return this.#map.keys();
  }
  values(): IterableIterator<string> {
    return this.#map.values();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#map.entries();
  }
}

/** What the host's fetch service answers. */
export interface HostResponse {
  status: number;
  statusText: string;
  url: string;
  headers: [string, string][];
  /** The body, base64. */
  body: string;
}

export class Response {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly headers: Headers;
  #bytes: Uint8Array;
  #used = false;
  constructor(init: HostResponse) {
    this.status = init.status;
    this.statusText = init.statusText;
    this.ok = init.status >= 200 && init.status < 300;
    this.url = init.url;
    this.headers = new Headers(init.headers);
    this.#bytes = base64ToBytes(init.body);
  }
  get bodyUsed(): boolean {
    return this.#used;
  }
  #consume(): Uint8Array {
    if (this.#used) throw new TypeError('Body has already been consumed');
    this.#used = true;
    return this.#bytes;
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.#consume();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  async text(): Promise<string> {
    return new TextDecoder().decode(this.#consume());
  }
  async json(): Promise<unknown> {
    return jsonParse(await this.text());
  }
}

/** The request as it crosses to the host's fetch service (the host-side fetch API: keep this shape). */
export interface HostRequest {
  url: string;
  method: string;
  headers: [string, string][];
  body: string | null;
  bodyBase64: string | null;
}

export interface FetchInit {
  method?: unknown;
  headers?: HeadersInit | null;
  body?: unknown;
}

/** The request `fetch(input, init)` sends to the host. */
export function toHostRequest(input: unknown, init: FetchInit, UrlClass: abstract new (...args: never[]) => { href: string }): HostRequest {
  const url =
    typeof input === 'string'
      ? input
      : input instanceof UrlClass
        ? input.href
        : input && typeof (input as { url?: unknown }).url === 'string'
          ? (input as { url: string }).url
          : String(input);
  const headers: [string, string][] = [];
  new Headers(init.headers || {}).forEach((v, k) => {
    headers.push([k, v]);
  });
  const request: HostRequest = { url, method: String(init.method || 'GET').toUpperCase(), headers, body: null, bodyBase64: null };
  const body = init.body;
  if (body === undefined || body === null) {
    // no body
  } else if (typeof body === 'string') request.body = body;
  else if (body instanceof URLSearchParams) {
    request.body = body.toString();
    if (!headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'application/x-www-form-urlencoded;charset=UTF-8']);
  } else if (body instanceof ArrayBuffer) request.bodyBase64 = bytesToBase64(new Uint8Array(body));
  else if (ArrayBuffer.isView(body)) request.bodyBase64 = bytesToBase64(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  else request.body = String(body);
  return request;
}

/**
 * The global `fetch`, performed by the host (the `fetch` service). A network failure rejects with a
 * node-fetch {@link FetchError} naming the URL, with the socket's `code`.
 */
export function createFetch(callAsyncText: (op: string, payloadJson: string) => Promise<string | null>, UrlClass: abstract new (...args: never[]) => { href: string }) {
  return async function fetch(input: unknown, init: FetchInit = {}): Promise<Response> {
    const request = toHostRequest(input, init, UrlClass);
    const text = await callAsyncText('fetch', jsonStringify(request));
    if (text === null) throw new TypeError('fetch: the host gave no response');
    const response = jsonParse(throwIfHostError(text, (failure: HostFailure) => fetchErrorOf(request.url, failure)) as string) as HostResponse;
    return new Response(response);
  };
}
