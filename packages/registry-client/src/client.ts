// The typed HTTP client of the registry. Imports no server code (no express, no mongodb) so the
// runtime and CLI can load it cheaply.
import { createHash } from 'node:crypto';
import { errorFromAnswer, PluglineError } from '@plugline/sdk';
import type {
  ApiTokenScope,
  CreatedToken,
  MaintainersResult,
  PluginDocument,
  PublishResult,
  RevokedToken,
  SearchQuery,
  SearchResult,
  TokenInfo,
  VersionDocument,
  WhoAmI,
} from './api-types.js';

export type * from './api-types.js';

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Base URL of the registry, e.g. `http://127.0.0.1:7400`. */
  url: string;
  /** Bearer token (admin or a scoped token), needed for writes. */
  token?: string;
}

/**
 * Typed client of the Plugline registry's HTTP API (global `fetch`). Non-2xx answers throw
 * `PluglineError` with the server's code and message; network failures throw `ERR_REGISTRY_UNREACHABLE`.
 *
 * @example
 * ```ts
 * const client = new RegistryClient({ url: 'http://127.0.0.1:7400', token });
 * const { integrity } = await client.publish(tarball, { name: 'geoip', version: '1.0.0' });
 * const doc = await client.resolve('geoip', '^1.0.0');
 * const bytes = await client.download(doc.name, doc.version, { integrity: doc.integrity });
 * ```
 */
export class RegistryClient {
  readonly url: string;
  private readonly token: string | undefined;

  constructor(options: RegistryClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token;
  }

  private pluginPath(name: string): string {
    return `/api/v1/plugins/${encodeURIComponent(name)}`;
  }

  private async send(method: string, path: string, init: { body?: Uint8Array | string; contentType?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (init.contentType) headers['content-type'] = init.contentType;
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, { method, headers, ...(init.body === undefined ? {} : { body: init.body }) });
    } catch (error) {
      throw new PluglineError('ERR_REGISTRY_UNREACHABLE', `The registry at ${this.url} could not be reached: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!response.ok) throw await errorFromResponse(response, method, path);
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(
      method,
      path,
      body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' },
    );
    return (await response.json()) as T;
  }

  /** Publishes a tarball (`PUT /api/v1/plugins/:name/:version`); needs a `publish` token. */
  /**
   * Publishes a tarball. With `tag` (npm's `publish --tag`), that dist-tag points at the version and
   * `latest` does not move (unless the plugin has no `latest` yet).
   */
  async publish(tarball: Uint8Array, target: { name: string; version: string; tag?: string }): Promise<PublishResult> {
    const query = target.tag === undefined ? '' : `?tag=${encodeURIComponent(target.tag)}`;
    const response = await this.send('PUT', `${this.pluginPath(target.name)}/${encodeURIComponent(target.version)}${query}`, {
      body: new Uint8Array(tarball),
      contentType: 'application/gzip',
    });
    return (await response.json()) as PublishResult;
  }

  /**
   * Publishes a plain npm package tarball (what `npm pack` writes) to the registry's npm endpoint
   * (`/npm/`), as `npm publish` would: then `npm install` with `@scope:registry=<url>/npm/` finds it.
   */
  async publishNpmPackage(tarball: Uint8Array, target: { name: string; version: string; tag?: string }): Promise<void> {
    const data = Buffer.from(tarball).toString('base64');
    const file = `${target.name.replace(/^@[^/]+\//, '')}-${target.version}.tgz`;
    const body = {
      _id: target.name,
      name: target.name,
      'dist-tags': { [target.tag ?? 'latest']: target.version },
      versions: { [target.version]: { name: target.name, version: target.version } },
      _attachments: { [file]: { content_type: 'application/octet-stream', data, length: tarball.byteLength } },
    };
    await this.send('PUT', `/npm/${target.name.replace('/', '%2f')}`, { body: JSON.stringify(body), contentType: 'application/json' });
  }

  /** The versions of a plain npm package on the registry's npm endpoint (none when it has no such package). */
  async npmVersions(name: string): Promise<string[]> {
    const response = await fetch(`${this.url}/npm/${name.replace('/', '%2f')}`, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {} }).catch((error: unknown) => {
      throw new PluglineError('ERR_REGISTRY_UNREACHABLE', `The registry at ${this.url} could not be reached: ${(error as Error).message}`, { cause: error });
    });
    if (response.status === 404) return [];
    if (!response.ok) throw await errorFromResponse(response, 'GET', `/npm/${name}`);
    return Object.keys(((await response.json()) as { versions: Record<string, unknown> }).versions);
  }

  /** The plugin document with every version, dist-tags, maintainers and downloads. */
  getPlugin(name: string): Promise<PluginDocument> {
    return this.json('GET', this.pluginPath(name));
  }

  /** The version a spec (exact version, semver range or dist-tag) resolves to. */
  resolve(name: string, spec: string): Promise<VersionDocument> {
    return this.json('GET', `${this.pluginPath(name)}/versions/${encodeURIComponent(spec)}`);
  }

  /** Absolute URL of a version's tarball. */
  tarballUrl(name: string, version: string): string {
    return `${this.url}${this.pluginPath(name)}/-/${encodeURIComponent(version)}.tgz`;
  }

  /**
   * Downloads a tarball and checks its sha512 against the server's `X-Integrity` header and, when given,
   * the expected `integrity` (e.g. from a lockfile): a mismatch throws `ERR_TARBALL_INTEGRITY`.
   */
  async download(name: string, version: string, options: { integrity?: string } = {}): Promise<Uint8Array> {
    const path = `${this.pluginPath(name)}/-/${encodeURIComponent(version)}.tgz`;
    const response = await this.send('GET', path);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const actual = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
    for (const expected of [response.headers.get('x-integrity') ?? undefined, options.integrity]) {
      if (expected !== undefined && expected !== actual) {
        throw new PluglineError('ERR_TARBALL_INTEGRITY', `${name}@${version}: expected ${expected}, got ${actual}`);
      }
    }
    return bytes;
  }

  /** The dist-tags of a plugin. */
  getDistTags(name: string): Promise<Record<string, string>> {
    return this.json('GET', `${this.pluginPath(name)}/dist-tags`);
  }

  /** Points a dist-tag at a version; answers the new dist-tags. */
  setDistTag(name: string, tag: string, version: string): Promise<Record<string, string>> {
    return this.json('PUT', `${this.pluginPath(name)}/dist-tags/${encodeURIComponent(tag)}`, { version });
  }

  /** Removes a dist-tag (not `latest`); answers the remaining dist-tags. */
  deleteDistTag(name: string, tag: string): Promise<Record<string, string>> {
    return this.json('DELETE', `${this.pluginPath(name)}/dist-tags/${encodeURIComponent(tag)}`);
  }

  /** Deprecates a version with a message; an empty message un-deprecates it. */
  deprecate(name: string, version: string, message: string): Promise<Omit<VersionDocument, 'readme'>> {
    return this.json('POST', `${this.pluginPath(name)}/${encodeURIComponent(version)}/deprecate`, { message });
  }

  /** Searches plugins, ranked by text match. */
  search(query: SearchQuery = {}): Promise<SearchResult> {
    const params = new URLSearchParams();
    if (query.q !== undefined) params.set('q', query.q);
    const keywords = typeof query.keywords === 'string' ? [query.keywords] : (query.keywords ?? []);
    if (keywords.length > 0) params.set('keywords', keywords.join(','));
    if (query.page !== undefined) params.set('page', String(query.page));
    if (query.size !== undefined) params.set('size', String(query.size));
    const search = params.toString();
    return this.json('GET', `/api/v1/search${search ? `?${search}` : ''}`);
  }

  /** Creates a token (`token` is shown once). The admin may name another `user`; users mint only their own. */
  createToken(options: { scopes: ApiTokenScope[]; name?: string; user?: string }): Promise<CreatedToken> {
    return this.json('POST', '/api/v1/tokens', options);
  }

  /** Revokes a token by id (the admin any, users their own). */
  /** Tokens without their secrets: your own, or (admin) everyone's or `user`'s. */
  async listTokens(options: { user?: string } = {}): Promise<TokenInfo[]> {
    const query = options.user === undefined ? '' : `?user=${encodeURIComponent(options.user)}`;
    return (await this.json<{ tokens: TokenInfo[] }>('GET', `/api/v1/tokens${query}`)).tokens;
  }

  revokeToken(id: string): Promise<RevokedToken> {
    return this.json('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
  }

  /** Who the client's token belongs to. */
  whoami(): Promise<WhoAmI> {
    return this.json('GET', '/api/v1/whoami');
  }

  /** Maintainers of the plugin's owner key (the name, or its `@scope`). */
  getMaintainers(name: string): Promise<MaintainersResult> {
    return this.json('GET', `${this.pluginPath(name)}/maintainers`);
  }

  /** Adds a maintainer (owners and the admin only). For `@scope/name` it joins the whole scope. */
  addMaintainer(name: string, user: string): Promise<MaintainersResult> {
    return this.json('PUT', `${this.pluginPath(name)}/maintainers/${encodeURIComponent(user)}`);
  }

  /** Removes a maintainer (never the last one). */
  removeMaintainer(name: string, user: string): Promise<MaintainersResult> {
    return this.json('DELETE', `${this.pluginPath(name)}/maintainers/${encodeURIComponent(user)}`);
  }
}

/** Turns an error answer into a `PluglineError` with the server's code (or `ERR_REGISTRY_RESPONSE`). */
async function errorFromResponse(response: Response, method: string, path: string): Promise<PluglineError> {
  const text = await response.text().catch(() => '');
  return errorFromAnswer(response.status, text, `${method} ${path}`);
}
