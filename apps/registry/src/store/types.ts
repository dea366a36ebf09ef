import type { PluginManifest } from '@plugline/sdk';

/** One published version as the metadata store keeps it. Immutable except `deprecated`. */
export interface VersionRecord {
  name: string;
  version: string;
  /** SRI integrity of the tarball, `sha512-<base64>`; also the blob store key. */
  integrity: string;
  /** Tarball size in bytes. */
  size: number;
  manifest: PluginManifest;
  /** The tarball's README.md (capped), shown on the marketplace page. */
  readme?: string;
  /** ISO timestamp. */
  publishedAt: string;
  /** Deprecation message, when the version is deprecated. */
  deprecated?: string;
}

/** A plugin (all versions of one name). */
export interface PluginRecord {
  name: string;
  /** Who owns the name: the name itself, or `@scope` for scoped names (the scope owns them all). */
  ownerKey: string;
  /** From the manifest of the `latest` version. */
  description?: string;
  keywords: string[];
  distTags: Record<string, string>;
  createdAt: string;
  modifiedAt: string;
}

/** A row of {@link MetadataStore.listPlugins}: what search and the marketplace list need. */
export interface PluginSummary {
  name: string;
  description?: string;
  keywords: string[];
  /** The `latest` dist-tag. */
  version: string;
  /** All-time tarball downloads over every version. */
  downloads: number;
  modifiedAt: string;
}

/** The token scopes: `read` (reserved for private registries) and `publish`. */
export const tokenScopes = ['read', 'publish'] as const;
/** One of {@link tokenScopes}. */
export type TokenScope = (typeof tokenScopes)[number];

/** An API token; only its sha256 `hash` is stored, never the secret. */
export interface TokenRecord {
  id: string;
  /** Hex sha256 of the secret token. */
  hash: string;
  user: string;
  scopes: TokenScope[];
  name?: string;
  createdAt: string;
  /** The user (or `admin`) who created it. */
  createdBy: string;
  revokedAt?: string;
}

/** Download counts of one plugin. */
export interface DownloadStats {
  total: number;
  versions: Record<string, number>;
  /** One row per day with downloads, oldest first. */
  daily: { day: string; count: number }[];
}

/** A batch entry of {@link MetadataStore.recordDownloads}: `count` downloads of one version on one day. */
export interface DownloadCount {
  name: string;
  version: string;
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  count: number;
}

/** Options of {@link MetadataStore.listVersions}. */
export interface ListVersionsOptions {
  /** Include each version's README (default true). */
  readme?: boolean;
}

/** Options of {@link MetadataStore.publishVersion}. */
export interface PublishOptions {
  /** The dist-tag to point at the new version (npm's `publish --tag`); `latest` when absent. */
  tag?: string;
}

/**
 * One version of a plain npm package (not a plugin) that the registry serves over the npm protocol
 * (`/npm/`): the SDK and the CLI, so plugin projects install them with npm where they are not on the
 * public npm registry.
 */
export interface NpmVersionRecord {
  name: string;
  version: string;
  /** SRI sha512 of the tarball (`dist.integrity`). */
  integrity: string;
  /** Hex sha1 of the tarball (`dist.shasum`, what old npm clients check). */
  shasum: string;
  size: number;
  /** The version's package.json as published (npm's version manifest). */
  manifest: Record<string, unknown>;
  publishedAt: string;
  /** The dist-tag it was published under (`npm publish --tag`); absent for `latest`. */
  tag?: string;
}

/** An npm package with its dist-tags and every version, oldest first. */
export interface NpmPackageRecord {
  name: string;
  distTags: Record<string, string>;
  versions: NpmVersionRecord[];
  createdAt: string;
  modifiedAt: string;
}

/** Who is publishing: the token's user, and whether it is the admin (who may publish anything). */
export interface Actor {
  user: string;
  admin: boolean;
}

/**
 * Where the registry keeps its metadata. Two engines implement it: {@link SqliteMetadataStore}
 * (embedded default) and {@link MongoMetadataStore}; both pass the same conformance suite.
 * Methods throw `PluglineError` for expected failures (`ERR_VERSION_EXISTS`, `ERR_FORBIDDEN`, ...).
 */
export interface MetadataStore {
  /** `sqlite` or `mongodb`. */
  readonly engine: string;
  /** The maintainers of an owner key (`name` or `@scope`); empty when nobody owns it yet. */
  getMaintainers(ownerKey: string): Promise<string[]>;
  /**
   * Atomically: claims `ownerKey` for the actor if unowned (else requires the actor to be a
   * maintainer or admin: `ERR_FORBIDDEN`), inserts the version (`ERR_VERSION_EXISTS` if it exists),
   * creates the plugin on first publish and moves `latest` when the version is the highest release.
   * With `options.tag` (other than `latest`) that dist-tag points at the version in the same write and
   * `latest` moves only if the plugin had none.
   */
  publishVersion(record: VersionRecord, ownerKey: string, actor: Actor, options?: PublishOptions): Promise<void>;
  getPlugin(name: string): Promise<PluginRecord | undefined>;
  /**
   * The plugin's revision: a number that changes with every change to what its metadata document shows
   * except downloads (publish, dist-tag set/delete, deprecate/un-deprecate, maintainer add/remove on its
   * owner key). Undefined when there is no such plugin. Readers that cache a document read this FIRST,
   * then the data, and reuse the cache only while the revision is unchanged: this is how caches stay
   * correct across replicas sharing one store.
   */
  getPluginRevision(name: string): Promise<number | undefined>;
  getVersion(name: string, version: string): Promise<VersionRecord | undefined>;
  /**
   * Every version of a plugin, in publish order. `{ readme: false }` leaves the READMEs out (they can be
   * 256 KiB each; resolving a spec does not need them).
   */
  listVersions(name: string, options?: ListVersionsOptions): Promise<VersionRecord[]>;
  /** The version strings of a plugin only, in publish order (what resolving a range needs). */
  listVersionNumbers(name: string): Promise<string[]>;
  /** Sets a dist-tag; the caller has checked that the version exists. */
  setDistTag(name: string, tag: string, version: string): Promise<void>;
  /** Removes a dist-tag; false if it was not set. */
  deleteDistTag(name: string, tag: string): Promise<boolean>;
  /** Sets (or with `undefined`, clears) a version's deprecation message; false if there is no such version. */
  setDeprecated(name: string, version: string, message: string | undefined): Promise<boolean>;
  /** Adds a maintainer to an owned key (idempotent). */
  addMaintainer(ownerKey: string, user: string): Promise<void>;
  /** Removes a maintainer; false if they were not one. */
  removeMaintainer(ownerKey: string, user: string): Promise<boolean>;
  /** Counts one tarball download on `day` (`YYYY-MM-DD`, UTC). */
  recordDownload(name: string, version: string, day: string): Promise<void>;
  /**
   * Adds a batch of download counts at once (one transaction where the engine has them). An engine
   * without one that wrote part of the batch throws an error with `unwritten: DownloadCount[]`, the
   * entries not in the store, so the caller retries only those.
   */
  recordDownloads(counts: readonly DownloadCount[]): Promise<void>;
  getDownloads(name: string): Promise<DownloadStats>;
  /** Every plugin with its latest version and download total (search ranks these). */
  listPlugins(): Promise<PluginSummary[]>;
  createToken(record: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /**
   * Like {@link publishVersion} for a plain npm package: claims `ownerKey` (shared with plugins, so a
   * scope has one owner) and inserts the version (`ERR_VERSION_EXISTS`); its dist-tags are derived from
   * the versions and the tag each was published under (`record.tag`, see `npmDistTags`).
   */
  publishNpmVersion(record: NpmVersionRecord, ownerKey: string, actor: Actor): Promise<void>;
  /** An npm package with every version (publish order) and its derived dist-tags, or undefined. */
  getNpmPackage(name: string): Promise<NpmPackageRecord | undefined>;
  /** Tokens (never their secrets), oldest first; only `user`'s when given; revoked ones too. */
  listTokens(user?: string): Promise<TokenRecord[]>;
  /** Marks a token revoked; false if there is no such (unrevoked) token. */
  revokeToken(id: string, at: string): Promise<boolean>;
  close(): Promise<void>;
}
