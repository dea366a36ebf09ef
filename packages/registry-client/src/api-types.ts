// The JSON shapes of the registry's HTTP API, shared by the server and the typed client (types only).
import type { PluginManifest } from '@plugline/sdk';

/** Token scopes: `read` (reserved for private registries) and `publish`. */
export type ApiTokenScope = 'read' | 'publish';

/** `201` answer of `PUT /api/v1/plugins/:name/:version`. */
export interface PublishResult {
  name: string;
  version: string;
  /** SRI integrity of the tarball, `sha512-<base64>`. */
  integrity: string;
}

/** One published version, as `GET /api/v1/plugins/:name/versions/:spec` answers it. */
export interface VersionDocument {
  name: string;
  version: string;
  integrity: string;
  /** Absolute URL of the tarball. */
  tarball: string;
  manifest: PluginManifest;
  /** The plugin's config JSON Schema (same as `manifest.config`). */
  config: PluginManifest['config'];
  /** README.md from the tarball (capped); only on the single-version document and the plugin's top level. */
  readme?: string;
  publishedAt: string;
  /** Deprecation message, if deprecated. */
  deprecated?: string;
}

/** Download counts of one plugin. */
export interface DownloadCounts {
  total: number;
  versions: Record<string, number>;
  daily: { day: string; count: number }[];
}

/** `GET /api/v1/plugins/:name`. */
export interface PluginDocument {
  name: string;
  description?: string;
  keywords: string[];
  distTags: Record<string, string>;
  /** Every version (without `readme`). */
  versions: Record<string, Omit<VersionDocument, 'readme'>>;
  /** `created`, `modified` and each version's publish time. */
  time: Record<string, string>;
  maintainers: string[];
  /** README of the `latest` version. */
  readme?: string;
  downloads: DownloadCounts;
}

/** A search hit. */
export interface SearchHit {
  name: string;
  description?: string;
  keywords: string[];
  /** The `latest` version. */
  version: string;
  /** All-time downloads. */
  downloads: number;
  score: number;
}

/** `GET /api/v1/search`. */
export interface SearchResult {
  total: number;
  page: number;
  size: number;
  results: SearchHit[];
}

/** Query of `GET /api/v1/search`. */
export interface SearchQuery {
  q?: string;
  keywords?: string[] | string;
  /** 1-based. */
  page?: number;
  /** Results per page, 1-100 (default 20). */
  size?: number;
}

/** `201` answer of `POST /api/v1/tokens`; `token` is shown only this once. */
export interface CreatedToken {
  id: string;
  token: string;
  user: string;
  scopes: ApiTokenScope[];
  name?: string;
  createdAt: string;
}

/** One token of `GET /api/v1/tokens` (never the secret). */
export interface TokenInfo {
  id: string;
  user: string;
  scopes: ApiTokenScope[];
  name?: string;
  createdAt: string;
  createdBy: string;
  revokedAt?: string;
}

/** `DELETE /api/v1/tokens/:id`. */
export interface RevokedToken {
  id: string;
  revokedAt: string;
}

/** Maintainers of a plugin's owner key (the name, or `@scope` for scoped names). */
export interface MaintainersResult {
  ownerKey: string;
  maintainers: string[];
}

/** `GET /api/v1/whoami`. */
export interface WhoAmI {
  user: string;
  admin: boolean;
  scopes: ApiTokenScope[];
}

/** Every error answer: `{ error: { code, message, details? } }`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}
