import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { isPluglineError, PluglineError, pluginNamePattern } from '@plugline/sdk';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import pino, { type Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import semver from 'semver';
import type {
  CreatedToken,
  MaintainersResult,
  PluginDocument,
  PublishResult,
  RevokedToken,
  SearchResult,
  TokenInfo,
  VersionDocument,
  WhoAmI,
} from './api-types.js';
import { adminUser, authenticate, generateToken, hashToken, type Principal, ownerKeyOf, requireScope, userNamePattern } from './auth.js';
import { type BlobStore, isStorageFull } from './blobs.js';
import { DownloadCounter } from './downloads.js';
import { createHttpMetrics } from './metrics.js';
import { createNpmRouter } from './npm.js';
import { isDistTagName, resolveSpec } from './resolve.js';
import { isSearchSort, searchPlugins, searchSorts } from './search.js';
import type { DownloadStats, MetadataStore, PluginRecord, TokenRecord, TokenScope, VersionRecord } from './store/types.js';
import { tokenScopes } from './store/types.js';
import { defaultTarballLimits, inspectTarball, type TarballLimits } from './tarball.js';
import { createWebRouter } from './web/index.js';

/** What {@link createRegistryApp} needs. */
export interface RegistryAppOptions {
  store: MetadataStore;
  blobs: BlobStore;
  /** The admin token (`PLUGLINE_ADMIN_TOKEN`); without it, only stored tokens work. */
  adminToken?: string;
  logger?: Logger;
  limits?: Partial<TarballLimits>;
  /** Base of absolute tarball URLs; defaults to the request's own protocol and host. */
  publicUrl?: string;
  /** Private registry: every API read needs a token with the `read` scope (default: reads are public). */
  private?: boolean;
  /**
   * Where tarball downloads are counted (batched into the store). {@link startRegistry} passes one and
   * flushes it on close; without it the app makes its own (flushed every second by a timer).
   */
  downloads?: DownloadCounter;
}

/** Cached metadata documents (per base URL and plugin), at most this many bytes in all. */
const documentCacheBytes = 64 * 1024 * 1024;
/** How long download stats read from the store are reused (ms). */
const downloadStatsTtlMs = 1000;

/** A built metadata document minus `downloads`, valid while the plugin's store revision is `revision`. */
interface CachedDocument {
  revision: number;
  /** The document's JSON (UTF-8) without its closing brace (downloads are appended per request). */
  head: Buffer;
  /** Short hash of `head`, the stable part of the ETag. */
  hash: string;
}

const namePattern = new RegExp(pluginNamePattern);

function assertName(name: string): void {
  if (name.length > 214 || !namePattern.test(name)) {
    throw new PluglineError('ERR_NAME_INVALID', `"${name}" is not a valid plugin name (npm rules, lower case, optional @scope/)`);
  }
}

function assertVersion(version: string): void {
  if (semver.valid(version) !== version) throw new PluglineError('ERR_VERSION_INVALID', `"${version}" is not a valid semver version`);
}

function param(request: Request, key: string): string {
  const value = (request.params as Record<string, string | undefined>)[key];
  if (value === undefined) throw new PluglineError('ERR_BAD_REQUEST', `Missing path parameter ${key}`);
  return value;
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/**
 * The per-request log. At `debug` and below: pino-http (request and response serialized in full). At
 * `info`: one light `request completed` line per request (method, url, status, time; never headers).
 * Above `info`: nothing per request (errors are logged by the error handler; publishes by their route).
 * pino-http cost ~12% of a metadata GET's CPU even at `warn`, where it logs nothing.
 */
function requestLogger(logger: Logger): RequestHandler {
  if (logger.isLevelEnabled('debug')) {
    return pinoHttp({
      logger,
      customLogLevel: (_request, response, error) => (error || response.statusCode >= 500 ? 'error' : 'info'),
      // Tokens must never reach the logs.
      serializers: { req: redactRequest },
    });
  }
  const perRequest = logger.isLevelEnabled('info');
  return (request, response, next) => {
    request.log = logger;
    if (perRequest) {
      const started = performance.now();
      response.once('finish', () => {
        const statusCode = response.statusCode;
        logger[statusCode >= 500 ? 'error' : 'info'](
          { req: { method: request.method, url: request.originalUrl }, res: { statusCode }, responseTime: Math.round(performance.now() - started) },
          'request completed',
        );
      });
    }
    next();
  };
}

/**
 * The registry's Express app (not listening): the `/api/v1` routes, `/healthz`, `/metrics`, then the
 * marketplace web router at `/`. Errors answer `{ error: { code, message } }` with the catalogue status.
 */
export function createRegistryApp(options: RegistryAppOptions): express.Express {
  const { store, blobs } = options;
  const logger = options.logger ?? pino({ name: 'plugline-registry' });
  const limits: TarballLimits = { ...defaultTarballLimits, ...options.limits };
  const metrics = createHttpMetrics();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(metrics.middleware);
  app.use(requestLogger(logger));
  const downloads = options.downloads ?? new DownloadCounter(store, { logger });

  // Metadata documents, rebuilt only when the plugin's store revision moves (any replica's change
  // bumps it in the same transaction), so a cached document is never served stale.
  const documents = new Map<string, CachedDocument>();
  let documentBytes = 0;
  const cacheDocument = (key: string, entry: CachedDocument): void => {
    const previous = documents.get(key);
    if (previous) {
      documentBytes -= previous.head.length;
      documents.delete(key);
    }
    if (entry.head.length > documentCacheBytes / 4) return; // a huge document is not worth evicting everything
    for (const [oldKey, old] of documents) {
      if (documentBytes + entry.head.length <= documentCacheBytes) break;
      documents.delete(oldKey);
      documentBytes -= old.head.length;
    }
    documents.set(key, entry);
    documentBytes += entry.head.length;
  };
  // Download stats change with every download, so they are not in the cached document: read from the
  // store at most once a second per plugin, plus this process's not-yet-written counts.
  const downloadStats = new Map<string, { at: number; stats: DownloadStats }>();
  downloads.onFlushed((names) => {
    for (const name of names) downloadStats.delete(name);
  });
  const downloadsOf = async (name: string): Promise<DownloadStats> => {
    const now = Date.now();
    let cached = downloadStats.get(name);
    if (!cached || now - cached.at > downloadStatsTtlMs) {
      cached = { at: now, stats: await store.getDownloads(name) };
      if (downloadStats.size >= 10_000) downloadStats.clear();
      downloadStats.set(name, cached);
    }
    return downloads.addPending(name, cached.stats);
  };
  // Resolved specs (`name\nspec` -> version) under the plugin revision they were resolved at.
  const resolutions = new Map<string, { revision: number; version: string }>();
  // Published versions are immutable (no unpublish), so their tarball integrity can be cached forever.
  const integrities = new Map<string, string>();

  const json = express.json({ limit: '100kb', strict: false });
  const rawBody = express.raw({ type: () => true, limit: limits.maxTarballBytes });
  const tarballBody = (request: Request, response: Response, next: NextFunction) => {
    rawBody(request, response, (error?: unknown) => {
      if ((error as { type?: unknown } | undefined)?.type === 'entity.too.large') {
        next(new PluglineError('ERR_TARBALL_TOO_LARGE', `The tarball exceeds the limit of ${limits.maxTarballBytes} bytes`));
      } else next(error);
    });
  };

  const baseUrl = (request: Request): string => (options.publicUrl ?? `${request.protocol}://${request.get('host')}`).replace(/\/+$/, '');
  const tarballUrl = (request: Request, name: string, version: string): string =>
    `${baseUrl(request)}/api/v1/plugins/${encodeURIComponent(name)}/-/${version}.tgz`;
  const versionDocument = (request: Request, record: VersionRecord, withReadme: boolean): VersionDocument => {
    const document: VersionDocument = {
      name: record.name,
      version: record.version,
      integrity: record.integrity,
      tarball: tarballUrl(request, record.name, record.version),
      manifest: record.manifest,
      config: record.manifest.config,
      publishedAt: record.publishedAt,
    };
    if (withReadme && record.readme !== undefined) document.readme = record.readme;
    if (record.deprecated !== undefined) document.deprecated = record.deprecated;
    return document;
  };

  // Resolves the bearer token once per request; routes decide what they need.
  const principalOf = async (request: Request): Promise<Principal | undefined> => {
    const cached = (request as Request & { principal?: Principal | null }).principal;
    if (cached !== undefined) return cached ?? undefined;
    const principal = await authenticate(request, store, options.adminToken);
    (request as Request & { principal?: Principal | null }).principal = principal ?? null;
    return principal;
  };
  const requirePublish = async (request: Request, _response: Response, next: NextFunction) => {
    requireScope(await principalOf(request), 'publish');
    next();
  };
  const pluginOr404 = async (name: string): Promise<PluginRecord> => {
    const plugin = await store.getPlugin(name);
    if (!plugin) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No plugin named ${name}`);
    return plugin;
  };
  /** The principal must maintain the name's owner key (or be admin). */
  const requireMaintainer = async (principal: Principal, name: string): Promise<void> => {
    if (principal.admin) return;
    const ownerKey = ownerKeyOf(name);
    if (!(await store.getMaintainers(ownerKey)).includes(principal.user)) {
      throw new PluglineError('ERR_FORBIDDEN', `${principal.user} is not a maintainer of ${ownerKey}`);
    }
  };

  const api = express.Router();

  api.get('/healthz', (_request, response) => {
    response.json({ ok: true, store: store.engine, blobs: blobs.engine });
  });
  // Readiness: 503 ERR_NOT_READY when a publish could not be stored now (the data folder is not writable or full).
  api.get('/readyz', async (_request, response) => {
    await blobs.ready?.();
    response.json({ ok: true, ready: true, store: store.engine, blobs: blobs.engine });
  });

  api.get('/metrics', async (_request, response) => {
    response.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  if (options.private) {
    api.use('/api/v1', async (request, _response, next) => {
      if (request.method === 'GET' || request.method === 'HEAD') requireScope(await principalOf(request), 'read');
      next();
    });
  }

  api.put('/api/v1/plugins/:name/:version', requirePublish, tarballBody, async (request, response) => {
    const principal = requireScope(await principalOf(request), 'publish');
    const name = param(request, 'name');
    const version = param(request, 'version');
    assertName(name);
    assertVersion(version);
    const tag = typeof request.query.tag === 'string' ? request.query.tag : undefined;
    if (tag !== undefined && !isDistTagName(tag)) throw new PluglineError('ERR_BAD_REQUEST', `"${tag}" is not a valid dist-tag (a letter first, not a semver range)`);
    const body: unknown = request.body;
    if (!Buffer.isBuffer(body) || body.byteLength === 0) throw new PluglineError('ERR_TARBALL_INVALID', 'The request body must be the tarball');
    const inspected = await inspectTarball(body, limits, { name, version });
    if (inspected.manifest.name !== name) {
      throw new PluglineError('ERR_NAME_MISMATCH', `plugin.json names "${inspected.manifest.name}" but the URL says "${name}"`);
    }
    if (inspected.manifest.version !== version) {
      throw new PluglineError('ERR_VERSION_MISMATCH', `plugin.json has version ${inspected.manifest.version} but the URL says ${version}`);
    }
    // Cheap checks before writing the blob; publishVersion repeats them atomically.
    const ownerKey = ownerKeyOf(name);
    const maintainers = await store.getMaintainers(ownerKey);
    if (maintainers.length > 0 && !principal.admin && !maintainers.includes(principal.user)) {
      throw new PluglineError('ERR_FORBIDDEN', `${principal.user} is not a maintainer of ${ownerKey}`);
    }
    if (await store.getVersion(name, version)) throw new PluglineError('ERR_VERSION_EXISTS', `${name}@${version} is already published`);
    // Blob first, metadata second: a failure in between leaves only an unreferenced, deduplicated blob.
    await blobs.put(inspected.integrity, body);
    const record: VersionRecord = {
      name,
      version,
      integrity: inspected.integrity,
      size: inspected.size,
      manifest: inspected.manifest,
      publishedAt: new Date().toISOString(),
    };
    if (inspected.readme !== undefined) record.readme = inspected.readme;
    await store.publishVersion(record, ownerKey, { user: principal.user, admin: principal.admin }, tag === undefined ? {} : { tag });
    request.log.info({ plugin: name, version, integrity: inspected.integrity, user: principal.user, ...(tag === undefined ? {} : { tag }) }, 'published');
    const result: PublishResult = { name, version, integrity: inspected.integrity };
    response.status(201).json(result);
  });

  const buildDocument = async (request: Request, name: string, revision: number): Promise<CachedDocument> => {
    const plugin = await pluginOr404(name);
    const [records, maintainers] = await Promise.all([store.listVersions(name, { readme: false }), store.getMaintainers(plugin.ownerKey)]);
    const versions: PluginDocument['versions'] = {};
    const time: Record<string, string> = { created: plugin.createdAt, modified: plugin.modifiedAt };
    for (const record of records) {
      versions[record.version] = versionDocument(request, record, false);
      time[record.version] = record.publishedAt;
    }
    const latest = plugin.distTags.latest === undefined ? undefined : await store.getVersion(name, plugin.distTags.latest);
    const document: Omit<PluginDocument, 'downloads'> = { name, keywords: plugin.keywords, distTags: plugin.distTags, versions, time, maintainers };
    if (plugin.description !== undefined) document.description = plugin.description;
    if (latest?.readme !== undefined) document.readme = latest.readme;
    const json = JSON.stringify(document);
    return { revision, head: Buffer.from(json.slice(0, -1)), hash: createHash('sha1').update(json).digest('base64url').slice(0, 16) };
  };

  api.get('/api/v1/plugins/:name', async (request, response) => {
    const name = param(request, 'name');
    // The revision is read BEFORE the data: a change racing the build leaves a newer revision in the
    // store than the cached one, so the next request rebuilds (never the other way round).
    const revision = await store.getPluginRevision(name);
    if (revision === undefined) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No plugin named ${name}`);
    // Tarball URLs are absolute, so the document depends on the base URL too.
    const key = `${baseUrl(request)}\n${name}`;
    let cached = documents.get(key);
    if (cached?.revision !== revision) {
      cached = await buildDocument(request, name, revision);
      cacheDocument(key, cached);
    }
    const stats = await downloadsOf(name);
    // Download counts only grow, so the total identifies them.
    const etag = `"${cached.hash}-${stats.total}"`;
    response.setHeader('ETag', etag);
    response.setHeader('Cache-Control', 'no-cache');
    const ifNoneMatch = request.get('if-none-match');
    if (ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*')) {
      response.status(304).end();
      return;
    }
    // The cached bytes go out as they are (no per-request encoding of a document that may be megabytes).
    const tail = `,"downloads":${JSON.stringify(stats)}}`;
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.setHeader('Content-Length', cached.head.length + Buffer.byteLength(tail));
    response.write(cached.head);
    response.end(tail);
  });

  api.get('/api/v1/plugins/:name/versions/:spec', async (request, response) => {
    const name = param(request, 'name');
    const spec = param(request, 'spec');
    // Same rule as the documents: the revision first; a resolution is reused only under the same one
    // (publishes and dist-tag changes, which decide what a spec means, all move it).
    const revision = await store.getPluginRevision(name);
    if (revision === undefined) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No plugin named ${name}`);
    const key = `${name}\n${spec}`;
    let version = resolutions.get(key)?.revision === revision ? resolutions.get(key)?.version : undefined;
    if (version === undefined) {
      const plugin = await pluginOr404(name);
      version = resolveSpec(await store.listVersionNumbers(name), plugin.distTags, spec);
      if (resolutions.size >= 10_000) resolutions.clear();
      resolutions.set(key, { revision, version });
    }
    const record = await store.getVersion(name, version);
    if (!record) throw new PluglineError('ERR_VERSION_NOT_FOUND', `No version ${version}`);
    response.json(versionDocument(request, record, true));
  });

  api.get('/api/v1/plugins/:name/-/:file', async (request, response) => {
    const name = param(request, 'name');
    const file = param(request, 'file');
    if (!file.endsWith('.tgz')) throw new PluglineError('ERR_NOT_FOUND', 'Tarball URLs end in <version>.tgz');
    const version = file.slice(0, -'.tgz'.length);
    const integrityKey = `${name}@${version}`;
    let integrity = integrities.get(integrityKey);
    if (integrity === undefined) {
      const record = await store.getVersion(name, version);
      if (!record) {
        if (!(await store.getPlugin(name))) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No plugin named ${name}`);
        throw new PluglineError('ERR_VERSION_NOT_FOUND', `No version ${version} of ${name}`);
      }
      integrity = record.integrity;
      if (integrities.size >= 100_000) integrities.clear();
      integrities.set(integrityKey, integrity);
    }
    // Never serve bytes that differ from what was published (getVerified throws ERR_TARBALL_INTEGRITY).
    let bytes: Uint8Array | undefined;
    try {
      bytes = await blobs.getVerified(integrity);
    } catch (error) {
      if (isPluglineError(error) && error.code === 'ERR_TARBALL_INTEGRITY') {
        throw new PluglineError('ERR_TARBALL_INTEGRITY', `The stored tarball of ${name}@${version} is corrupt`);
      }
      throw error;
    }
    if (!bytes) throw new PluglineError('ERR_INTERNAL', `The tarball of ${name}@${version} is missing from the blob store`);
    response.set({
      'Content-Type': 'application/gzip',
      ETag: `"${integrity}"`,
      'Cache-Control': 'public, max-age=31536000, immutable',
      'X-Integrity': integrity,
    });
    // Tarballs are immutable, so a matching If-None-Match is always a 304 (even with no-cache, which fetch adds).
    const ifNoneMatch = request.get('if-none-match');
    if (ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === `"${integrity}"` || tag.trim() === '*')) {
      response.status(304).end();
      return;
    }
    if (request.method === 'GET') downloads.count(name, version, today());
    response.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  api.get('/api/v1/plugins/:name/dist-tags', async (request, response) => {
    response.json((await pluginOr404(param(request, 'name'))).distTags);
  });

  api.put('/api/v1/plugins/:name/dist-tags/:tag', requirePublish, json, async (request, response) => {
    const principal = requireScope(await principalOf(request), 'publish');
    const name = param(request, 'name');
    const tag = param(request, 'tag');
    if (!isDistTagName(tag)) throw new PluglineError('ERR_BAD_REQUEST', `"${tag}" is not a valid dist-tag (a letter first, not a semver range)`);
    const body: unknown = request.body;
    const version = typeof body === 'string' ? body : (body as { version?: unknown } | undefined)?.version;
    if (typeof version !== 'string') throw new PluglineError('ERR_BAD_REQUEST', 'The body must be { "version": "<version>" }');
    await pluginOr404(name);
    await requireMaintainer(principal, name);
    if (!(await store.getVersion(name, version))) throw new PluglineError('ERR_VERSION_NOT_FOUND', `No version ${version} of ${name}`);
    await store.setDistTag(name, tag, version);
    response.json((await pluginOr404(name)).distTags);
  });

  api.delete('/api/v1/plugins/:name/dist-tags/:tag', requirePublish, async (request, response) => {
    const principal = requireScope(await principalOf(request), 'publish');
    const name = param(request, 'name');
    const tag = param(request, 'tag');
    if (tag === 'latest') throw new PluglineError('ERR_BAD_REQUEST', 'The "latest" dist-tag cannot be removed; point it elsewhere instead');
    await pluginOr404(name);
    await requireMaintainer(principal, name);
    if (!(await store.deleteDistTag(name, tag))) throw new PluglineError('ERR_NOT_FOUND', `${name} has no dist-tag "${tag}"`);
    response.json((await pluginOr404(name)).distTags);
  });

  api.post('/api/v1/plugins/:name/:version/deprecate', requirePublish, json, async (request, response) => {
    const principal = requireScope(await principalOf(request), 'publish');
    const name = param(request, 'name');
    const version = param(request, 'version');
    const message = (request.body as { message?: unknown } | undefined)?.message;
    if (message !== undefined && typeof message !== 'string') throw new PluglineError('ERR_BAD_REQUEST', 'message must be a string');
    await pluginOr404(name);
    await requireMaintainer(principal, name);
    // An empty message un-deprecates, as with npm.
    if (!(await store.setDeprecated(name, version, message ? message : undefined))) {
      throw new PluglineError('ERR_VERSION_NOT_FOUND', `No version ${version} of ${name}`);
    }
    const record = await store.getVersion(name, version);
    if (!record) throw new PluglineError('ERR_VERSION_NOT_FOUND', `No version ${version} of ${name}`);
    response.json(versionDocument(request, record, false));
  });

  api.get('/api/v1/plugins/:name/maintainers', async (request, response) => {
    const plugin = await pluginOr404(param(request, 'name'));
    const result: MaintainersResult = { ownerKey: plugin.ownerKey, maintainers: await store.getMaintainers(plugin.ownerKey) };
    response.json(result);
  });

  api.put('/api/v1/plugins/:name/maintainers/:user', requirePublish, async (request, response) => {
    const principal = requireScope(await principalOf(request), 'publish');
    const name = param(request, 'name');
    const user = param(request, 'user');
    if (!userNamePattern.test(user)) throw new PluglineError('ERR_BAD_REQUEST', `"${user}" is not a valid user name`);
    const plugin = await pluginOr404(name);
    await requireMaintainer(principal, name);
    await store.addMaintainer(plugin.ownerKey, user);
    const result: MaintainersResult = { ownerKey: plugin.ownerKey, maintainers: await store.getMaintainers(plugin.ownerKey) };
    response.json(result);
  });

  api.delete('/api/v1/plugins/:name/maintainers/:user', requirePublish, async (request, response) => {
    const principal = requireScope(await principalOf(request), 'publish');
    const name = param(request, 'name');
    const user = param(request, 'user');
    const plugin = await pluginOr404(name);
    await requireMaintainer(principal, name);
    const maintainers = await store.getMaintainers(plugin.ownerKey);
    if (!maintainers.includes(user)) throw new PluglineError('ERR_NOT_FOUND', `${user} is not a maintainer of ${plugin.ownerKey}`);
    if (maintainers.length === 1) throw new PluglineError('ERR_BAD_REQUEST', `${user} is the last maintainer of ${plugin.ownerKey}`);
    await store.removeMaintainer(plugin.ownerKey, user);
    const result: MaintainersResult = { ownerKey: plugin.ownerKey, maintainers: await store.getMaintainers(plugin.ownerKey) };
    response.json(result);
  });

  api.get('/api/v1/search', async (request, response) => {
    const query = request.query as Record<string, unknown>;
    const text = typeof query.q === 'string' ? query.q : '';
    const rawKeywords = ([] as unknown[]).concat(query.keywords ?? []);
    const keywords = rawKeywords.flatMap((value) => (typeof value === 'string' ? value.split(',') : [])).map((k) => k.trim()).filter(Boolean);
    const page = query.page === undefined ? 1 : Number(query.page);
    const size = query.size === undefined ? 20 : Number(query.size);
    if (!Number.isInteger(page) || page < 1) throw new PluglineError('ERR_BAD_REQUEST', 'page must be an integer >= 1');
    if (!Number.isInteger(size) || size < 1 || size > 100) throw new PluglineError('ERR_BAD_REQUEST', 'size must be an integer from 1 to 100');
    const sort = query.sort === undefined || query.sort === '' ? 'relevance' : query.sort;
    if (!isSearchSort(sort)) throw new PluglineError('ERR_BAD_REQUEST', `sort must be one of ${searchSorts.join(', ')}`);
    // Search ranks by downloads: write this process's pending counts first (a no-op when none).
    if (downloads.hasPending) await downloads.flush();
    const { total, results } = searchPlugins(await store.listPlugins(), { q: text, keywords, page, size, sort });
    const result: SearchResult = { total, page, size, results };
    response.json(result);
  });

  api.get('/api/v1/whoami', async (request, response) => {
    const principal = await principalOf(request);
    if (!principal) throw new PluglineError('ERR_UNAUTHORIZED', 'No token given');
    const result: WhoAmI = { user: principal.user, admin: principal.admin, scopes: principal.scopes };
    response.json(result);
  });

  api.post('/api/v1/tokens', json, async (request, response) => {
    const principal = await principalOf(request);
    if (!principal) throw new PluglineError('ERR_UNAUTHORIZED', 'Creating a token needs the admin token or one of your own tokens');
    const body = (request.body ?? {}) as { scopes?: unknown; name?: unknown; user?: unknown };
    const scopes = body.scopes;
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((scope) => (tokenScopes as readonly unknown[]).includes(scope))) {
      throw new PluglineError('ERR_BAD_REQUEST', `scopes must be a non-empty array of ${tokenScopes.map((s) => `"${s}"`).join(', ')}`);
    }
    if (body.name !== undefined && (typeof body.name !== 'string' || body.name.length > 100)) {
      throw new PluglineError('ERR_BAD_REQUEST', 'name must be a string of at most 100 characters');
    }
    // A token always has an explicit owner: the caller, or the user the admin names. The admin token is
    // nobody's: an admin-minted token without `user` would act as "admin", the owner of everything it published.
    if (principal.admin && body.user === undefined) {
      throw new PluglineError('ERR_BAD_REQUEST', 'The admin token mints tokens for a named user: pass "user" (a token always has an explicit owner)');
    }
    const user = body.user ?? principal.user;
    if (typeof user !== 'string' || !userNamePattern.test(user)) throw new PluglineError('ERR_BAD_REQUEST', 'user must be a valid user name');
    if (!principal.admin) {
      // Users mint tokens only for themselves and never with more scopes than their own token.
      if (user !== principal.user) throw new PluglineError('ERR_FORBIDDEN', 'Only the admin can create tokens for other users');
      const extra = (scopes as TokenScope[]).filter((scope) => !principal.scopes.includes(scope));
      if (extra.length > 0) throw new PluglineError('ERR_FORBIDDEN', `Your token lacks the scopes ${extra.join(', ')}`);
    } else if (user === adminUser && body.user !== undefined) {
      throw new PluglineError('ERR_BAD_REQUEST', `"${adminUser}" is reserved for the admin token`);
    }
    const { id, token } = generateToken();
    const record: TokenRecord = {
      id,
      hash: hashToken(token),
      user,
      scopes: [...new Set(scopes as TokenScope[])],
      createdAt: new Date().toISOString(),
      createdBy: principal.user,
    };
    if (typeof body.name === 'string') record.name = body.name;
    await store.createToken(record);
    const result: CreatedToken = { id, token, user, scopes: record.scopes, createdAt: record.createdAt };
    if (record.name !== undefined) result.name = record.name;
    response.status(201).json(result);
  });

  api.get('/api/v1/tokens', async (request, response) => {
    const principal = await principalOf(request);
    if (!principal) throw new PluglineError('ERR_UNAUTHORIZED', 'Listing tokens needs a token');
    const asked = typeof request.query.user === 'string' ? request.query.user : undefined;
    // The admin sees everyone's (or one user's); a user only their own.
    if (!principal.admin && asked !== undefined && asked !== principal.user) throw new PluglineError('ERR_FORBIDDEN', "Only the admin can list other users' tokens");
    const records = await store.listTokens(principal.admin ? asked : principal.user);
    const tokens: TokenInfo[] = records.map(({ hash: _hash, ...info }) => info);
    response.json({ tokens });
  });

  api.delete('/api/v1/tokens/:id', async (request, response) => {
    const principal = await principalOf(request);
    if (!principal) throw new PluglineError('ERR_UNAUTHORIZED', 'Revoking a token needs a token');
    const id = param(request, 'id');
    const record = await store.getToken(id);
    if (!record || record.revokedAt !== undefined) throw new PluglineError('ERR_NOT_FOUND', `No active token ${id}`);
    if (!principal.admin && record.user !== principal.user) throw new PluglineError('ERR_FORBIDDEN', 'You can only revoke your own tokens');
    const revokedAt = new Date().toISOString();
    if (!(await store.revokeToken(id, revokedAt))) throw new PluglineError('ERR_NOT_FOUND', `No active token ${id}`);
    const result: RevokedToken = { id, revokedAt };
    response.json(result);
  });

  api.use('/api', (request, _response, next) => {
    next(new PluglineError('ERR_NOT_FOUND', `No route ${request.method} ${request.originalUrl}`));
  });

  // The npm protocol for plain npm packages (the SDK and the CLI), see npm.ts.
  app.use('/npm', createNpmRouter({ store, blobs, limits, principalOf, baseUrl, private: options.private === true }));
  app.use(api);
  app.use('/', createWebRouter({ store: withFlushedDownloads(store, downloads), private: options.private === true, ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }) }));

  app.use((error: unknown, request: Request, response: Response, _next: NextFunction) => {
    const coded = toPluglineError(error);
    if (coded.status >= 500) request.log?.error({ err: error }, 'request failed');
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(coded.status).json(coded.toJSON());
  });

  logger.debug({ limits, store: store.engine, blobs: blobs.engine }, 'registry app created');
  return app;
}

/**
 * The store as the marketplace pages see it: reads of download counts first write this process's
 * pending counts, so a page shows every download this process served.
 */
function withFlushedDownloads(store: MetadataStore, downloads: DownloadCounter): MetadataStore {
  const flushed = async (): Promise<void> => {
    if (downloads.hasPending) await downloads.flush();
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'getDownloads') {
        return async (name: string) => {
          await flushed();
          return target.getDownloads(name);
        };
      }
      if (property === 'listPlugins') {
        return async () => {
          await flushed();
          return target.listPlugins();
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The pino request serializer minus credentials: `authorization` and `cookie` headers are masked. */
function redactRequest(serialized: { headers?: Record<string, unknown> }): unknown {
  if (!serialized.headers) return serialized;
  const headers = { ...serialized.headers };
  for (const key of ['authorization', 'cookie']) if (key in headers) headers[key] = '[redacted]';
  return { ...serialized, headers };
}

/** Maps anything thrown in a route to a coded error (body-parser and unknown errors included). */
function toPluglineError(error: unknown): PluglineError {
  if (error instanceof PluglineError) return error;
  if (isPluglineError(error)) return new PluglineError(error.code, error.message);
  const parserType = (error as { type?: unknown })?.type;
  if (typeof parserType === 'string' && parserType.startsWith('entity.')) {
    return new PluglineError('ERR_BAD_REQUEST', `The request body is malformed: ${(error as Error).message}`);
  }
  if (parserType === 'request.aborted') return new PluglineError('ERR_BAD_REQUEST', 'The request was aborted');
  // A full disk (files: ENOSPC/EDQUOT; SQLite: SQLITE_FULL, errcode 13) is 507, not an internal error.
  if (isStorageFull(error) || (error as { errcode?: unknown })?.errcode === 13) return new PluglineError('ERR_STORAGE_FULL', undefined, { cause: error });
  return new PluglineError('ERR_INTERNAL', 'Internal error', { cause: error });
}
