import { isIP } from 'node:net';
import { PluglineError, isPluglineError } from '@plugline/sdk';
import { parseIntoClientConfig } from 'pg-connection-string';
import { Agent, buildConnector, type Dispatcher, fetch as undiciFetch } from 'undici';
import type { EgressPolicy } from './egress.js';

/** Redirects a plugin's fetch follows (each hop re-checked) before it fails with `ERR_EGRESS_REDIRECTS`. */
export const maxRedirects = 5;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * An undici Agent whose every new connection asks the policy first: the host name is resolved and
 * checked by {@link EgressPolicy.resolve}, and the socket is opened to that checked address (TLS keeps
 * the name for SNI and certificate checks). Kept-alive connections are reused only for the same origin.
 */
export function createEgressAgent(policy: EgressPolicy, connectTimeoutMs = 10_000): Agent {
  const connect = buildConnector({ timeout: connectTimeoutMs });
  return new Agent({
    keepAliveTimeout: 4_000,
    connect(options, callback) {
      const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
      policy.resolve(options.hostname, port).then(
        ({ address }) => connect({ ...options, hostname: address }, callback),
        (error: Error) => callback(error, null),
      );
    },
  });
}

/** What a plugin's fetch asked for (the prelude's request). */
export interface EgressRequest {
  url: string;
  method: string;
  headers: [string, string][];
  body: string | Buffer | null;
}

/**
 * `fetch` under an egress policy: only http(s); redirects followed by hand (`redirect: 'manual'`), each
 * hop's URL checked again and its connection going through the policy's agent; at most
 * {@link maxRedirects} hops (`ERR_EGRESS_REDIRECTS`). A refused connection throws the policy's coded
 * error itself (`ERR_EGRESS_DENIED`, `ERR_CAPABILITY_DENIED`), not undici's "fetch failed".
 * Authorization, Cookie and Proxy-Authorization are dropped on a cross-origin redirect, as browsers do.
 */
export async function egressFetch(policy: EgressPolicy, dispatcher: Dispatcher, request: EgressRequest, signal: AbortSignal): Promise<{ response: Response; url: string }> {
  let url = new URL(request.url);
  let method = request.method.toUpperCase();
  let body = request.body;
  let headers = request.headers;
  for (let hop = 0; ; hop += 1) {
    policy.checkUrl(url);
    let response: Response;
    try {
      response = (await undiciFetch(url, { method, headers, body, signal, redirect: 'manual', dispatcher })) as unknown as Response;
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      if (isPluglineError(cause)) throw cause;
      throw error;
    }
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || location === null) return { response, url: url.href };
    await response.body?.cancel().catch(() => undefined);
    if (hop >= maxRedirects) throw new PluglineError('ERR_EGRESS_REDIRECTS', `fetch ${request.url}: more than ${maxRedirects} redirects`);
    const next = new URL(location, url);
    if (response.status === 303 ? method !== 'HEAD' : (response.status === 301 || response.status === 302) && method === 'POST') {
      method = 'GET';
      body = null;
      headers = headers.filter(([name]) => !/^content-(type|length|encoding|language|location)$/i.test(name));
    }
    if (next.origin !== url.origin) headers = headers.filter(([name]) => !/^(authorization|cookie|proxy-authorization)$/i.test(name));
    url = next;
  }
}

/** A pg client config for a connection string whose host the policy allowed: it connects to the checked address. */
export interface CheckedPostgresConfig {
  /** Pool key: the connection string and the checked address. */
  key: string;
  config: ReturnType<typeof parseIntoClientConfig>;
}

/**
 * Checks where a `meta.postgres.query` connection string points before any socket is opened: the host
 * (default `localhost`) and port (default 5432) go through {@link EgressPolicy.resolve} and the client
 * config connects to the checked address (TLS keeps the name as `servername`). A Unix socket path is
 * refused (`ERR_EGRESS_DENIED`).
 */
export async function checkedPostgresConfig(policy: EgressPolicy, connectionString: string): Promise<CheckedPostgresConfig> {
  let config: ReturnType<typeof parseIntoClientConfig>;
  try {
    config = parseIntoClientConfig(connectionString);
  } catch (error) {
    throw new PluglineError('ERR_EGRESS_DENIED', `postgres: the connection string is not valid: ${(error as Error).message}`);
  }
  const host = config.host ?? 'localhost';
  if (host.startsWith('/')) throw new PluglineError('ERR_EGRESS_DENIED', 'postgres over a Unix socket is refused by the egress policy: use host:port');
  const port = Number(config.port ?? 5432) || 5432;
  const { address } = await policy.resolve(host, port);
  // TLS checks the certificate against the name, not the address connected to (SNI needs a name).
  const servername = isIP(host) === 0 ? { servername: host } : {};
  const ssl = config.ssl && typeof config.ssl === 'object' ? { ...config.ssl, ...servername } : config.ssl === true ? servername : config.ssl;
  return { key: `${connectionString}\n${address}`, config: { ...config, host: address, port, ...(ssl === undefined ? {} : { ssl }) } };
}
