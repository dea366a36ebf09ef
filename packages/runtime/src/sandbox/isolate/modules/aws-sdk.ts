/**
 * `aws-sdk` (v2)'s `S3` client as PostHog's S3 exporters call it — `new S3({ accessKeyId,
 * secretAccessKey, region, endpoint, s3ForcePathStyle })`, then `upload(params)` / `putObject(params)`
 * / `getObject(params)` / `headBucket(params)` with a callback or `.promise()` — implemented with the
 * AWS SDK v3 (`@aws-sdk/client-s3`, its browser build) over the isolate's fetch. Other services of the
 * v2 SDK are not provided. The SDK does not retry (the isolate has no timers): a failed call rejects
 * with the S3 error's `code`, `statusCode` and message, and the plugin (or the runtime, for a
 * RetryError) retries.
 */
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpResponse, type HttpRequest } from '@smithy/protocol-http';
import { Buffer } from './buffer-shim.js';

type Callback = (error: Error | null, data?: Record<string, unknown>) => void;
interface Options {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region?: string;
  endpoint?: string | { href: string };
  s3ForcePathStyle?: boolean;
  params?: Record<string, unknown>;
}

/** An S3 error answer (the browser build parses XML with DOMParser, which the isolate lacks). */
class S3Error extends Error {
  code: string;
  statusCode: number;
  retryable: boolean;
  constructor(statusCode: number, code: string | undefined, message: string | undefined) {
    super(message ?? `S3 answered HTTP ${statusCode}`);
    this.name = code ?? 'S3Error';
    this.code = code ?? `HTTP${statusCode}`;
    this.statusCode = statusCode;
    this.retryable = statusCode >= 500 || statusCode === 429;
  }
}

function queryString(query: HttpRequest['query']): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const parts: string[] = [];
  for (const name of Object.keys(query).sort()) {
    const value = query[name];
    if (value === null || value === undefined) parts.push(encode(name));
    else for (const one of Array.isArray(value) ? value : [value]) parts.push(`${encode(name)}=${encode(one)}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

const isolateFetch = (globalThis as unknown as { fetch: typeof fetch }).fetch;

/** The SDK's request handler over the isolate's fetch (its own needs Request, AbortController, streams). */
const fetchHandler = {
  async handle(request: HttpRequest) {
    const port = request.port ? `:${request.port}` : '';
    const url = `${request.protocol}//${request.hostname}${port}${request.path}${queryString(request.query)}`;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (name.toLowerCase() === 'host' || name.toLowerCase() === 'content-length') continue;
      headers[name] = value;
    }
    const body = request.body as Uint8Array | string | undefined;
    const response = await isolateFetch(url, { method: request.method, headers, ...(body === undefined || request.method === 'GET' || request.method === 'HEAD' ? {} : { body }) });
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      responseHeaders[name] = value;
    });
    if (response.status < 200 || response.status >= 300) {
      const text = request.method === 'HEAD' ? '' : await response.text().catch(() => '');
      throw new S3Error(response.status, /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? (response.status === 404 ? 'NotFound' : undefined), /<Message>([^<]*)<\/Message>/.exec(text)?.[1]);
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { response: new HttpResponse({ statusCode: response.status, reason: response.statusText, headers: responseHeaders, body: bytes }) };
  },
  updateHttpClientConfig() {},
  httpHandlerConfigs: () => ({}),
};

/** A v2-style request: `.promise()`, or the callback given to the method. */
interface AwsRequest {
  promise(): Promise<Record<string, unknown>>;
  send(callback?: Callback): void;
}

function request(run: () => Promise<Record<string, unknown>>, callback?: Callback): AwsRequest {
  let started: Promise<Record<string, unknown>> | undefined;
  const start = () => {
    started ??= run();
    return started;
  };
  const handle: AwsRequest = {
    promise: start,
    send(cb) {
      start().then(
        (data) => cb?.(null, data),
        (error: Error) => cb?.(error),
      );
    },
  };
  if (callback) handle.send(callback);
  return handle;
}

function bodyBytes(body: unknown): Uint8Array | string {
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body === undefined || body === null) return new Uint8Array();
  throw Object.assign(new Error('Body must be a string, a Buffer or a typed array (streams are not supported in the Plugline sandbox)'), { code: 'InvalidParameterType' });
}

export class S3 {
  readonly client: S3Client;
  readonly config: Options;
  readonly #endpoint: string | undefined;
  readonly #pathStyle: boolean;
  constructor(options: Options = {}) {
    this.config = options;
    const credentials = options.credentials ?? { accessKeyId: options.accessKeyId ?? '', secretAccessKey: options.secretAccessKey ?? '', ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}) };
    const endpoint = typeof options.endpoint === 'object' ? options.endpoint.href : options.endpoint;
    this.#endpoint = endpoint;
    this.#pathStyle = options.s3ForcePathStyle === true;
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: this.#pathStyle,
      credentials,
      maxAttempts: 1,
      sha256: Sha256,
      requestHandler: fetchHandler,
      streamCollector: async (body: unknown) => (body instanceof Uint8Array ? body : new Uint8Array()),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // One attempt: the retry middleware (which probes ReadableStream on errors) is a pass-through.
    this.client.middlewareStack.add((next) => (args) => next(args), { name: 'retryMiddleware', step: 'finalizeRequest', priority: 'high', tags: ['RETRY'], override: true });
    // The 200-error middleware re-wraps bodies in a ReadableStream, which the isolate does not have.
    const joinStacks = this.client.middlewareStack.concat.bind(this.client.middlewareStack);
    this.client.middlewareStack.concat = ((from: Parameters<typeof joinStacks>[0]) => {
      const joined = joinStacks(from);
      joined.remove('throw200ExceptionsMiddleware');
      return joined;
    }) as typeof joinStacks;
  }
  #params(params: Record<string, unknown>): Record<string, unknown> {
    return { ...this.config.params, ...params };
  }
  #location(bucket: unknown, key: unknown): string {
    const base = this.#endpoint ? this.#endpoint.replace(/\/+$/, '') : `https://s3.${this.config.region ?? 'us-east-1'}.amazonaws.com`;
    return this.#pathStyle || this.#endpoint ? `${base}/${String(bucket)}/${String(key)}` : `https://${String(bucket)}.s3.amazonaws.com/${String(key)}`;
  }
  putObject(params: Record<string, unknown>, callback?: Callback): AwsRequest {
    const input = this.#params(params);
    return request(async () => {
      const output = await this.client.send(new PutObjectCommand({ ...input, Body: bodyBytes(input.Body) } as never));
      return { ETag: output.ETag, VersionId: output.VersionId };
    }, callback);
  }
  /** v2's managed upload, as one PutObject (bodies are in memory in the isolate anyway). */
  upload(params: Record<string, unknown>, optionsOrCallback?: unknown, maybeCallback?: Callback): AwsRequest {
    const callback = typeof optionsOrCallback === 'function' ? (optionsOrCallback as Callback) : maybeCallback;
    const input = this.#params(params);
    return request(async () => {
      const output = await this.client.send(new PutObjectCommand({ ...input, Body: bodyBytes(input.Body) } as never));
      return { ETag: output.ETag, Bucket: input.Bucket, Key: input.Key, key: input.Key, Location: this.#location(input.Bucket, input.Key) };
    }, callback);
  }
  getObject(params: Record<string, unknown>, callback?: Callback): AwsRequest {
    const input = this.#params(params);
    return request(async () => {
      const output = await this.client.send(new GetObjectCommand(input as never));
      const body = output.Body as unknown;
      const bytes = body instanceof Uint8Array ? body : new Uint8Array();
      return { Body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), ContentType: output.ContentType, ContentEncoding: output.ContentEncoding, ETag: output.ETag };
    }, callback);
  }
  headBucket(params: Record<string, unknown>, callback?: Callback): AwsRequest {
    const input = this.#params(params);
    return request(async () => {
      await this.client.send(new HeadBucketCommand(input as never));
      return {};
    }, callback);
  }
}

export const config = { update() {} };
export default { S3, config };
