import { jsonParse } from './intrinsics.js';

/** URLSearchParams (pure JS) and URL (parsed by the host's WHATWG parser through `url.parse`/`url.set`). */

function formDecode(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}
function formEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/%20/g, '+')
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

type SearchInit = string | URLSearchParams | Iterable<readonly [unknown, unknown]> | Record<string, unknown> | undefined | null;

export class URLSearchParams {
  #list: [string, string][] = [];
  #onChange: ((query: string) => void) | null = null;
  constructor(init: SearchInit = '') {
    if (typeof init === 'string') this.#parse(init);
    else if (init instanceof URLSearchParams) this.#list = init.#list.map(([k, v]) => [k, v]);
    else if (init && typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const [k, v] of init as Iterable<readonly [unknown, unknown]>) this.#list.push([String(k), String(v)]);
    } else if (init && typeof init === 'object') {
      const record = init as Record<string, unknown>;
      for (const k of Object.keys(record)) this.#list.push([k, String(record[k])]);
    }
  }
  #parse(text: string): void {
    this.#list = [];
    for (const part of String(text).replace(/^\?/, '').split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      this.#list.push(eq < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
    }
  }
  /** Ties these params to a URL: `onChange` gets the new query after each change. */
  static _link(params: URLSearchParams, text: string, onChange: (query: string) => void): void {
    params.#parse(text);
    params.#onChange = onChange;
  }
  static _reset(params: URLSearchParams, text: string): void {
    params.#parse(text);
  }
  #changed(): void {
    if (this.#onChange) this.#onChange(this.toString());
  }
  get size(): number {
    return this.#list.length;
  }
  append(k: unknown, v: unknown): void {
    this.#list.push([String(k), String(v)]);
    this.#changed();
  }
  delete(k: unknown): void {
    this.#list = this.#list.filter(([key]) => key !== String(k));
    this.#changed();
  }
  get(k: unknown): string | null {
    const hit = this.#list.find(([key]) => key === String(k));
    return hit ? hit[1] : null;
  }
  getAll(k: unknown): string[] {
    return this.#list.filter(([key]) => key === String(k)).map(([, v]) => v);
  }
  has(k: unknown): boolean {
    return this.#list.some(([key]) => key === String(k));
  }
  set(key: unknown, value: unknown): void {
    const k = String(key);
    const v = String(value);
    const i = this.#list.findIndex(([entry]) => entry === k);
    if (i < 0) this.#list.push([k, v]);
    else {
      this.#list[i]![1] = v;
      this.#list = this.#list.filter(([entry], j) => entry !== k || j === i);
    }
    this.#changed();
  }
  sort(): void {
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#changed();
  }
  forEach(fn: (value: string, key: string, params: URLSearchParams) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#list) fn.call(thisArg, v, k, this);
  }
  keys(): IterableIterator<string> {
    return this.#list.map(([k]) => k)[Symbol.iterator]();
  }
  values(): IterableIterator<string> {
    return this.#list.map(([, v]) => v)[Symbol.iterator]();
  }
  entries(): IterableIterator<[string, string]> {
    return this.#list.map(([k, v]): [string, string] => [k, v])[Symbol.iterator]();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  toString(): string {
    return this.#list.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&');
  }
}

/** The parts of a URL as the host's `url.parse` answers them. */
interface UrlParts {
  href: string;
  origin: string;
  protocol: string;
  username: string;
  password: string;
  host: string;
  hostname: string;
  port: string;
  pathname: string;
  search: string;
  hash: string;
}

let callSync: (op: string, payload: unknown) => string = () => {
  throw new TypeError('URL is not available before the prelude binds it');
};

/** Gives `URL` the bridge's `callSync` (module state inside the prelude's closure, not a global). */
export function bindUrl(hostCallSync: (op: string, payload: unknown) => string): void {
  callSync = hostCallSync;
}

/** The `URL` class, its parsing done by the host's WHATWG parser. */
export class URL {
  #parts: UrlParts;
  #searchParams: URLSearchParams;
  constructor(input: unknown, base?: unknown) {
    const args = [String(input)];
    if (base !== undefined) args.push(String(base));
    const parsed = jsonParse(callSync('url.parse', args)) as UrlParts | null;
    if (parsed === null) throw new TypeError(`Invalid URL: ${String(input)}`);
    this.#parts = parsed;
    this.#searchParams = new URLSearchParams();
    URLSearchParams._link(this.#searchParams, parsed.search, (query) => {
      this.#set('search', query, false);
    });
  }
  static canParse(input: unknown, base?: unknown): boolean {
    try {
      new URL(input, base);
      return true;
    } catch {
      return false;
    }
  }
  #set(part: keyof UrlParts, value: unknown, resetParams = true): void {
    const parsed = jsonParse(callSync('url.set', [this.#parts.href, part, String(value)])) as UrlParts | null;
    if (parsed === null) throw new TypeError('Invalid URL');
    this.#parts = parsed;
    if (resetParams) URLSearchParams._reset(this.#searchParams, parsed.search);
  }
  get href(): string {
    return this.#parts.href;
  }
  set href(v: string) {
    this.#set('href', v);
  }
  get origin(): string {
    return this.#parts.origin;
  }
  get protocol(): string {
    return this.#parts.protocol;
  }
  set protocol(v: string) {
    this.#set('protocol', v);
  }
  get username(): string {
    return this.#parts.username;
  }
  set username(v: string) {
    this.#set('username', v);
  }
  get password(): string {
    return this.#parts.password;
  }
  set password(v: string) {
    this.#set('password', v);
  }
  get host(): string {
    return this.#parts.host;
  }
  set host(v: string) {
    this.#set('host', v);
  }
  get hostname(): string {
    return this.#parts.hostname;
  }
  set hostname(v: string) {
    this.#set('hostname', v);
  }
  get port(): string {
    return this.#parts.port;
  }
  set port(v: string) {
    this.#set('port', v);
  }
  get pathname(): string {
    return this.#parts.pathname;
  }
  set pathname(v: string) {
    this.#set('pathname', v);
  }
  get search(): string {
    return this.#parts.search;
  }
  set search(v: string) {
    this.#set('search', v);
  }
  get hash(): string {
    return this.#parts.hash;
  }
  set hash(v: string) {
    this.#set('hash', v);
  }
  get searchParams(): URLSearchParams {
    return this.#searchParams;
  }
  toString(): string {
    return this.#parts.href;
  }
  toJSON(): string {
    return this.#parts.href;
  }
}
