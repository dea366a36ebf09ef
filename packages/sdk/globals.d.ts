/**
 * The globals a Plugline sandbox gives plugin code, beyond the ECMAScript built-ins, typed for a plugin
 * project's tsconfig (`"lib": ["es2022"], "types": ["@plugline/sdk/globals"]`): no DOM, no Node. They
 * follow the web APIs of the same name, limited to what the runtime implements (see the runtime
 * README, "The sandbox"). Using something the sandbox does not have (`process`, `require`, `document`,
 * `setTimeout`) is then a type error instead of a failure at load.
 *
 * @example
 * ```jsonc
 * // tsconfig.json of a plugin project
 * { "compilerOptions": { "lib": ["es2022"], "types": ["@plugline/sdk/globals"] } }
 * ```
 */

/** Into the plugin's logs (`GET /api/plugins`, the runtime's log). */
interface PluglineConsole {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  debug(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
}

type PluglineHeadersInit = PluglineHeaders | Record<string, string> | [string, string][];

/** WHATWG-style headers (case-insensitive names). */
declare class PluglineHeaders {
  constructor(init?: PluglineHeadersInit);
  append(name: string, value: string): void;
  delete(name: string): void;
  get(name: string): string | null;
  has(name: string): boolean;
  set(name: string, value: string): void;
  forEach(callback: (value: string, name: string) => void): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

/** What `fetch` resolves to (the host performed the request). */
interface PluglineResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly headers: PluglineHeaders;
  readonly bodyUsed: boolean;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

interface PluglineRequestInit {
  method?: string;
  headers?: PluglineHeadersInit;
  body?: string | Uint8Array | ArrayBuffer | URLSearchParams | null;
}

declare global {
  var console: PluglineConsole;
  /** Performed by the host, under its egress policy and caps. */
  function fetch(url: string | URL, init?: PluglineRequestInit): Promise<PluglineResponse>;
  var Headers: typeof PluglineHeaders;
  type Headers = PluglineHeaders;

  class URLSearchParams {
    constructor(init?: string | Record<string, string> | [string, string][] | URLSearchParams);
    append(name: string, value: string): void;
    delete(name: string): void;
    get(name: string): string | null;
    getAll(name: string): string[];
    has(name: string): boolean;
    set(name: string, value: string): void;
    sort(): void;
    forEach(callback: (value: string, name: string) => void): void;
    keys(): IterableIterator<string>;
    values(): IterableIterator<string>;
    entries(): IterableIterator<[string, string]>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
    readonly size: number;
    toString(): string;
  }

  /** Parsed by the host's WHATWG URL parser. */
  class URL {
    constructor(url: string, base?: string | URL);
    static canParse(url: string, base?: string): boolean;
    hash: string;
    host: string;
    hostname: string;
    href: string;
    readonly origin: string;
    password: string;
    pathname: string;
    port: string;
    protocol: string;
    search: string;
    readonly searchParams: URLSearchParams;
    username: string;
    toString(): string;
    toJSON(): string;
  }

  /** UTF-8 only. */
  class TextEncoder {
    readonly encoding: 'utf-8';
    encode(input?: string): Uint8Array;
  }
  /** UTF-8 only. */
  class TextDecoder {
    constructor(label?: 'utf-8' | 'utf8', options?: { fatal?: boolean });
    readonly encoding: 'utf-8';
    decode(input?: ArrayBuffer | ArrayBufferView): string;
  }

  function atob(data: string): string;
  function btoa(data: string): string;
  class DOMException extends Error {
    constructor(message?: string, name?: string);
  }

  /** Bytes from the host's CSPRNG. */
  var crypto: {
    getRandomValues<T extends ArrayBufferView>(array: T): T;
    randomUUID(): `${string}-${string}-${string}-${string}-${string}`;
  };

  /** JSON semantics: events, configs and storage values are JSON. */
  function structuredClone<T>(value: T): T;

  /** Throw it from `exportEvents` (or a job) to be retried later. */
  class RetryError extends Error {
    constructor(message?: string);
  }

  /** PostHog compatibility: a new event into the runtime's own capture path. */
  var posthog: {
    capture(event: string, properties?: Record<string, unknown>): Promise<void>;
  };
}

export {};
