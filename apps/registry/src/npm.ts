import { PluglineError } from '@plugline/sdk';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import semver from 'semver';
import { ownerKeyOf, type Principal, requireScope } from './auth.js';
import type { BlobStore } from './blobs.js';
import { isDistTagName } from './resolve.js';
import type { MetadataStore, NpmPackageRecord, NpmVersionRecord } from './store/types.js';
import { inspectNpmTarball, type TarballLimits } from './tarball.js';

/** What {@link createNpmRouter} needs from the registry app. */
export interface NpmRouterOptions {
  store: MetadataStore;
  blobs: BlobStore;
  limits: TarballLimits;
  /** The request's principal (bearer token), resolved once per request by the app. */
  principalOf: (request: Request) => Promise<Principal | undefined>;
  /** Absolute base URL of the registry for tarball links. */
  baseUrl: (request: Request) => string;
  /** Reads need the `read` scope (a private registry). */
  private: boolean;
}

/** The body `npm publish` sends: a packument holding the one new version and its tarball, base64. */
interface PublishBody {
  name?: unknown;
  'dist-tags'?: Record<string, unknown>;
  versions?: Record<string, unknown>;
  _attachments?: Record<string, { data?: unknown }>;
}

/**
 * The npm registry protocol under `/npm/`, for plain npm packages (not plugins): packuments, tarballs
 * and `npm publish`. It lets a plugin project install `@plugline/sdk` and `@plugline/cli` with plain npm
 * where they are not on the public registry: an `.npmrc` with `@plugline:registry=<registry>/npm/`
 * sends only that scope here and everything else to npmjs. Tokens, scopes and ownership are the
 * registry's own (`npm publish` sends the token as `Authorization: Bearer`).
 */
export function createNpmRouter(options: NpmRouterOptions): Router {
  const { store, blobs, limits } = options;
  const router = express.Router();
  // base64 adds a third; the packument around the attachment is small.
  const publishBody = express.json({ limit: Math.ceil(limits.maxTarballBytes * 1.4) + 256 * 1024, type: () => true });

  if (options.private) {
    router.use(async (request: Request, _response: Response, next: NextFunction) => {
      if (request.method === 'GET' || request.method === 'HEAD') requireScope(await options.principalOf(request), 'read');
      next();
    });
  }

  const tarballUrl = (request: Request, name: string, version: string) =>
    `${options.baseUrl(request)}/npm/${name}/-/${name.replace(/^@[^/]+\//, '')}-${version}.tgz`;

  const packument = (request: Request, record: NpmPackageRecord) => {
    const versions: Record<string, unknown> = {};
    const time: Record<string, string> = { created: record.createdAt, modified: record.modifiedAt };
    for (const version of record.versions) {
      versions[version.version] = versionManifest(request, version);
      time[version.version] = version.publishedAt;
    }
    return { _id: record.name, name: record.name, 'dist-tags': record.distTags, versions, time };
  };
  const versionManifest = (request: Request, version: NpmVersionRecord) => ({
    ...version.manifest,
    _id: `${version.name}@${version.version}`,
    dist: { tarball: tarballUrl(request, version.name, version.version), integrity: version.integrity, shasum: version.shasum },
  });

  const packageOr404 = async (name: string): Promise<NpmPackageRecord> => {
    const record = await store.getNpmPackage(name);
    if (!record) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No npm package named ${name}`);
    return record;
  };

  // `@scope/name` arrives as one segment (`@scope%2fname`, what npm sends) or as two.
  const nameOf = (request: Request): string => {
    const params = request.params as Record<string, string | undefined>;
    return params.scope ? `${params.scope}/${params.name}` : String(params.name);
  };

  const getPackument = async (request: Request, response: Response) => {
    const record = await packageOr404(nameOf(request));
    response.set('Cache-Control', 'no-cache').json(packument(request, record));
  };
  const getTarball = async (request: Request, response: Response) => {
    const name = nameOf(request);
    const file = String((request.params as Record<string, string>).file);
    const record = await packageOr404(name);
    const version = record.versions.find((candidate) => `${name.replace(/^@[^/]+\//, '')}-${candidate.version}.tgz` === file);
    if (!version) throw new PluglineError('ERR_VERSION_NOT_FOUND', `No tarball ${file} of ${name}`);
    const bytes = await blobs.getVerified(version.integrity);
    if (!bytes) throw new PluglineError('ERR_NOT_FOUND', `The tarball of ${name}@${version.version} is missing`);
    response
      .set({ 'Content-Type': 'application/octet-stream', 'Cache-Control': 'public, max-age=31536000, immutable', 'X-Integrity': version.integrity })
      .send(Buffer.from(bytes));
  };
  const publish = async (request: Request, response: Response) => {
    const principal = requireScope(await options.principalOf(request), 'publish');
    const name = nameOf(request);
    const body = (request.body ?? {}) as PublishBody;
    if (body.name !== name) throw new PluglineError('ERR_NAME_MISMATCH', `The body names "${String(body.name)}" but the URL says "${name}"`);
    const versions = Object.keys(body.versions ?? {});
    const attachments = Object.values(body._attachments ?? {});
    const [version] = versions;
    const [attachment] = attachments;
    if (versions.length !== 1 || version === undefined || attachments.length !== 1 || typeof attachment?.data !== 'string') {
      throw new PluglineError('ERR_BAD_REQUEST', 'npm publish sends exactly one version and one base64 tarball attachment');
    }
    if (semver.valid(version) !== version) throw new PluglineError('ERR_VERSION_INVALID', `"${version}" is not a valid semver version`);
    const tags = Object.entries(body['dist-tags'] ?? {}).filter(([, tagged]) => tagged === version).map(([tag]) => tag);
    const tag = tags.find((candidate) => candidate !== 'latest') ?? 'latest';
    if (!isDistTagName(tag)) throw new PluglineError('ERR_BAD_REQUEST', `"${tag}" is not a valid dist-tag`);
    // Cheap checks before reading the tarball; publishNpmVersion repeats the ownership check atomically.
    const ownerKey = ownerKeyOf(name);
    const maintainers = await store.getMaintainers(ownerKey);
    if (maintainers.length > 0 && !principal.admin && !maintainers.includes(principal.user)) {
      throw new PluglineError('ERR_FORBIDDEN', `${principal.user} is not a maintainer of ${ownerKey}`);
    }
    const bytes = Buffer.from(attachment.data, 'base64');
    const inspected = await inspectNpmTarball(bytes, limits, { name, version });
    await blobs.put(inspected.integrity, bytes);
    await store.publishNpmVersion(
      {
        name,
        version,
        integrity: inspected.integrity,
        shasum: inspected.shasum,
        size: inspected.size,
        manifest: inspected.manifest,
        publishedAt: new Date().toISOString(),
        ...(tag === 'latest' ? {} : { tag }),
      },
      ownerKey,
      { user: principal.user, admin: principal.admin },
    );
    request.log.info({ npmPackage: name, version, integrity: inspected.integrity, user: principal.user, tag }, 'npm package published');
    response.status(201).json({ ok: true, id: name, version, integrity: inspected.integrity });
  };

  // `npm ping` and the registry root, as npm clients probe them.
  router.get('/-/ping', (_request, response) => void response.json({}));
  router.get('/', (_request, response) => void response.json({ db_name: 'plugline', protocol: 'npm', scope: 'packages published here (the SDK, the CLI)' }));
  router.get('/:scope/:name/-/:file', getTarball);
  router.get('/:name/-/:file', getTarball);
  router.get('/:name', getPackument);
  router.get('/:scope/:name', getPackument);
  router.put('/:name', publishBody, publish);
  router.put('/:scope/:name', publishBody, publish);
  return router;
}
