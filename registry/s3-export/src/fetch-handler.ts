import { type HttpHandler, type HttpRequest, HttpResponse } from '@smithy/protocol-http';

/** Reads `<Code>` and `<Message>` from an S3 XML error body. */
export function parseS3Error(body: string): { code?: string; message?: string } {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
  return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
}

/** S3 answered with an error status (read by {@link sandboxFetchHandler}, not by the SDK). */
export class S3AnswerError extends Error {
  override name = 'S3AnswerError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    readonly s3Message: string | undefined,
  ) {
    super(`S3 answered HTTP ${status}${code ? ` ${code}` : ''}${s3Message ? `: ${s3Message}` : ''}`);
  }
}

/** Encodes a query string the way S3 expects (RFC 3986; the SDK signs the decoded values). */
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

/**
 * An SDK request handler on top of a plain `fetch` (the sandbox's host-bridged one). The SDK's own
 * `FetchHttpHandler` needs `Request`, `AbortController` and body streams, which the plugin isolate does
 * not have; this one sends the signed request as is and hands back the whole body as bytes. A non-2xx
 * answer throws {@link S3AnswerError}.
 */
export function sandboxFetchHandler(fetchFn: typeof fetch): HttpHandler {
  return {
    async handle(request: HttpRequest) {
      const port = request.port ? `:${request.port}` : '';
      const url = `${request.protocol}//${request.hostname}${port}${request.path}${queryString(request.query)}`;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        // fetch sets Host and Content-Length itself, from the URL and the body (the values that were signed).
        if (name.toLowerCase() === 'host' || name.toLowerCase() === 'content-length') continue;
        headers[name] = value;
      }
      const body = request.body as Uint8Array | string | undefined;
      const response = await fetchFn(url, { method: request.method, headers, ...(body === undefined ? {} : { body }) });
      const responseHeaders: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        responseHeaders[name] = value;
      });
      if (response.status < 200 || response.status >= 300) {
        // The SDK's browser build parses XML with DOMParser, which the sandbox lacks: error answers are
        // read here (S3 error bodies are small and flat).
        const { code, message } = parseS3Error(await response.text().catch(() => ''));
        throw new S3AnswerError(response.status, code, message);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      return { response: new HttpResponse({ statusCode: response.status, reason: response.statusText, headers: responseHeaders, body: bytes }) };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
  };
}
