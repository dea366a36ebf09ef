import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { type PluginManifest, PluglineError } from '@plugline/sdk';
import { npmPackageOf, shouldBecomeLatest } from './latest.js';
import type {
  Actor,
  PublishOptions,
  DownloadCount,
  DownloadStats,
  ListVersionsOptions,
  MetadataStore,
  PluginRecord,
  NpmPackageRecord,
  NpmVersionRecord,
  PluginSummary,
  TokenRecord,
  TokenScope,
  VersionRecord,
} from './types.js';

const schema = `
CREATE TABLE IF NOT EXISTS plugins (
  name TEXT PRIMARY KEY,
  owner_key TEXT NOT NULL,
  description TEXT,
  keywords TEXT NOT NULL DEFAULT '[]',
  dist_tags TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  revision INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  integrity TEXT NOT NULL,
  size INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  readme TEXT,
  published_at TEXT NOT NULL,
  deprecated TEXT,
  UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS maintainers (
  owner_key TEXT NOT NULL,
  user TEXT NOT NULL,
  added_at TEXT NOT NULL,
  PRIMARY KEY (owner_key, user)
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL,
  scopes TEXT NOT NULL,
  name TEXT,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS npm_versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  integrity TEXT NOT NULL,
  shasum TEXT NOT NULL,
  size INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  published_at TEXT NOT NULL,
  tag TEXT,
  UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS downloads (
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  day TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (name, version, day)
);
`;

type Row = Record<string, unknown>;

function text(value: unknown): string {
  return String(value);
}
function optionalText(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}

function toVersion(row: Row): VersionRecord {
  const record: VersionRecord = {
    name: text(row.name),
    version: text(row.version),
    integrity: text(row.integrity),
    size: Number(row.size),
    manifest: JSON.parse(text(row.manifest)) as PluginManifest,
    publishedAt: text(row.published_at),
  };
  const readme = optionalText(row.readme);
  if (readme !== undefined) record.readme = readme;
  const deprecated = optionalText(row.deprecated);
  if (deprecated !== undefined) record.deprecated = deprecated;
  return record;
}

function toPlugin(row: Row): PluginRecord {
  const record: PluginRecord = {
    name: text(row.name),
    ownerKey: text(row.owner_key),
    keywords: JSON.parse(text(row.keywords)) as string[],
    distTags: JSON.parse(text(row.dist_tags)) as Record<string, string>,
    createdAt: text(row.created_at),
    modifiedAt: text(row.modified_at),
  };
  const description = optionalText(row.description);
  if (description !== undefined) record.description = description;
  return record;
}

function toToken(row: Row): TokenRecord {
  const record: TokenRecord = {
    id: text(row.id),
    hash: text(row.hash),
    user: text(row.user),
    scopes: JSON.parse(text(row.scopes)) as TokenScope[],
    createdAt: text(row.created_at),
    createdBy: text(row.created_by),
  };
  const name = optionalText(row.name);
  if (name !== undefined) record.name = name;
  const revokedAt = optionalText(row.revoked_at);
  if (revokedAt !== undefined) record.revokedAt = revokedAt;
  return record;
}

function isUniqueViolation(error: unknown): boolean {
  return /UNIQUE constraint failed|constraint failed/i.test(String((error as Error)?.message));
}

/**
 * The embedded metadata store: one SQLite file (`registry.db`, WAL, `synchronous=FULL`) under the data
 * folder, through Node's built-in `node:sqlite`. Each publish is one transaction, so a crash leaves
 * either the whole version or nothing.
 */
export class SqliteMetadataStore implements MetadataStore {
  readonly engine = 'sqlite';
  readonly path: string;
  private readonly db: DatabaseSync;
  /** Prepared statements by SQL text: preparing was ~a third of the CPU of a metadata GET. */
  private readonly statements = new Map<string, StatementSync>();

  /** Opens (creating if needed) `<dataDir>/registry.db`. */
  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, 'registry.db');
    this.db = new DatabaseSync(this.path);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
    this.db.exec(schema);
    this.migrate();
  }

  /** Brings a data folder made by an older version up to this schema (idempotent, safe with replicas). */
  private migrate(): void {
    const columns = this.db.prepare('PRAGMA table_info(plugins)').all().map((row) => text(row.name));
    if (columns.includes('revision')) return;
    try {
      this.db.exec('ALTER TABLE plugins ADD COLUMN revision INTEGER NOT NULL DEFAULT 1');
    } catch (error) {
      // Another process sharing the data folder added it first.
      if (!/duplicate column/i.test(String((error as Error)?.message))) throw error;
    }
  }

  /** Every plugin of an owner key gets a new revision (maintainers show in each one's document). */
  private bumpOwnerRevisions(ownerKey: string): void {
    this.statement('UPDATE plugins SET revision = revision + 1 WHERE owner_key = ?').run(ownerKey);
  }

  /** The prepared statement for `sql`, prepared once per store. */
  private statement(sql: string): StatementSync {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Runs `work` in one `BEGIN IMMEDIATE` transaction, rolling back on any error. */
  private transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  private maintainersOf(ownerKey: string): string[] {
    return this.statement('SELECT user FROM maintainers WHERE owner_key = ? ORDER BY added_at, user')
      .all(ownerKey)
      .map((row) => text(row.user));
  }

  async getMaintainers(ownerKey: string): Promise<string[]> {
    return this.maintainersOf(ownerKey);
  }

  /** Inside a transaction: claims an unowned `ownerKey` for the actor, else requires a maintainer or the admin. */
  private claimOwnerKey(ownerKey: string, actor: Actor, at: string): void {
    const maintainers = this.maintainersOf(ownerKey);
    if (maintainers.length === 0) {
      this.statement('INSERT INTO maintainers (owner_key, user, added_at) VALUES (?, ?, ?)').run(ownerKey, actor.user, at);
    } else if (!actor.admin && !maintainers.includes(actor.user)) {
      throw new PluglineError('ERR_FORBIDDEN', `${actor.user} is not a maintainer of ${ownerKey}`);
    }
  }

  async publishVersion(record: VersionRecord, ownerKey: string, actor: Actor, options: PublishOptions = {}): Promise<void> {
    this.transaction(() => {
      this.claimOwnerKey(ownerKey, actor, record.publishedAt);
      try {
        this.statement(
            'INSERT INTO versions (name, version, integrity, size, manifest, readme, published_at, deprecated) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
          )
          .run(record.name, record.version, record.integrity, record.size, JSON.stringify(record.manifest), record.readme ?? null, record.publishedAt);
      } catch (error) {
        if (isUniqueViolation(error)) throw new PluglineError('ERR_VERSION_EXISTS', `${record.name}@${record.version} is already published`);
        throw error;
      }
      const existing = this.statement('SELECT * FROM plugins WHERE name = ?').get(record.name);
      const plugin = existing ? toPlugin(existing) : undefined;
      const distTags = { ...(plugin?.distTags ?? {}) };
      const becomesLatest = shouldBecomeLatest(distTags.latest, record.version, options.tag);
      if (becomesLatest) distTags.latest = record.version;
      if (options.tag !== undefined && options.tag !== 'latest') distTags[options.tag] = record.version;
      const description = becomesLatest ? (record.manifest.description ?? null) : (plugin?.description ?? null);
      const keywords = becomesLatest ? (record.manifest.keywords ?? []) : (plugin?.keywords ?? []);
      this.statement(
          `INSERT INTO plugins (name, owner_key, description, keywords, dist_tags, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET description = excluded.description, keywords = excluded.keywords,
             dist_tags = excluded.dist_tags, modified_at = excluded.modified_at, revision = plugins.revision + 1`,
        )
        .run(record.name, ownerKey, description, JSON.stringify(keywords), JSON.stringify(distTags), record.publishedAt, record.publishedAt);
    });
  }

  async publishNpmVersion(record: NpmVersionRecord, ownerKey: string, actor: Actor): Promise<void> {
    this.transaction(() => {
      this.claimOwnerKey(ownerKey, actor, record.publishedAt);
      try {
        this.statement('INSERT INTO npm_versions (name, version, integrity, shasum, size, manifest, published_at, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
          record.name,
          record.version,
          record.integrity,
          record.shasum,
          record.size,
          JSON.stringify(record.manifest),
          record.publishedAt,
          record.tag ?? null,
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new PluglineError('ERR_VERSION_EXISTS', `${record.name}@${record.version} is already published`);
        throw error;
      }
    });
  }

  async getNpmPackage(name: string): Promise<NpmPackageRecord | undefined> {
    const versions = this.statement('SELECT * FROM npm_versions WHERE name = ? ORDER BY seq').all(name).map((row): NpmVersionRecord => {
      const version: NpmVersionRecord = {
        name: text(row.name),
        version: text(row.version),
        integrity: text(row.integrity),
        shasum: text(row.shasum),
        size: Number(row.size),
        manifest: JSON.parse(text(row.manifest)) as Record<string, unknown>,
        publishedAt: text(row.published_at),
      };
      const tag = optionalText(row.tag);
      if (tag !== undefined) version.tag = tag;
      return version;
    });
    return npmPackageOf(name, versions);
  }

  async getPlugin(name: string): Promise<PluginRecord | undefined> {
    const row = this.statement('SELECT * FROM plugins WHERE name = ?').get(name);
    return row ? toPlugin(row) : undefined;
  }

  async getPluginRevision(name: string): Promise<number | undefined> {
    const row = this.statement('SELECT revision FROM plugins WHERE name = ?').get(name);
    return row ? Number(row.revision) : undefined;
  }

  async getVersion(name: string, version: string): Promise<VersionRecord | undefined> {
    const row = this.statement('SELECT * FROM versions WHERE name = ? AND version = ?').get(name, version);
    return row ? toVersion(row) : undefined;
  }

  async listVersions(name: string, options: ListVersionsOptions = {}): Promise<VersionRecord[]> {
    const columns = options.readme === false ? 'name, version, integrity, size, manifest, published_at, deprecated' : '*';
    return this.statement(`SELECT ${columns} FROM versions WHERE name = ? ORDER BY seq`).all(name).map(toVersion);
  }

  async listVersionNumbers(name: string): Promise<string[]> {
    return this.statement('SELECT version FROM versions WHERE name = ? ORDER BY seq').all(name).map((row) => text(row.version));
  }

  private updateDistTags(name: string, change: (tags: Record<string, string>) => boolean): boolean {
    return this.transaction(() => {
      const row = this.statement('SELECT * FROM plugins WHERE name = ?').get(name);
      if (!row) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No plugin named ${name}`);
      const plugin = toPlugin(row);
      const tags = { ...plugin.distTags };
      if (!change(tags)) return false;
      let description = plugin.description ?? null;
      let keywords = plugin.keywords;
      // The plugin's listing (description, keywords) follows whatever `latest` points at.
      if (tags.latest !== plugin.distTags.latest && tags.latest !== undefined) {
        const latest = this.statement('SELECT manifest FROM versions WHERE name = ? AND version = ?').get(name, tags.latest);
        if (latest) {
          const manifest = JSON.parse(text(latest.manifest)) as PluginManifest;
          description = manifest.description ?? null;
          keywords = manifest.keywords ?? [];
        }
      }
      this.statement('UPDATE plugins SET dist_tags = ?, description = ?, keywords = ?, modified_at = ?, revision = revision + 1 WHERE name = ?')
        .run(JSON.stringify(tags), description, JSON.stringify(keywords), new Date().toISOString(), name);
      return true;
    });
  }

  async setDistTag(name: string, tag: string, version: string): Promise<void> {
    this.updateDistTags(name, (tags) => {
      tags[tag] = version;
      return true;
    });
  }

  async deleteDistTag(name: string, tag: string): Promise<boolean> {
    return this.updateDistTags(name, (tags) => {
      if (!(tag in tags)) return false;
      delete tags[tag];
      return true;
    });
  }

  async setDeprecated(name: string, version: string, message: string | undefined): Promise<boolean> {
    return this.transaction(() => {
      const result = this.statement('UPDATE versions SET deprecated = ? WHERE name = ? AND version = ?').run(message ?? null, name, version);
      if (Number(result.changes) === 0) return false;
      this.statement('UPDATE plugins SET revision = revision + 1 WHERE name = ?').run(name);
      return true;
    });
  }

  async addMaintainer(ownerKey: string, user: string): Promise<void> {
    this.transaction(() => {
      const result = this.statement('INSERT INTO maintainers (owner_key, user, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(
        ownerKey,
        user,
        new Date().toISOString(),
      );
      if (Number(result.changes) > 0) this.bumpOwnerRevisions(ownerKey);
    });
  }

  async removeMaintainer(ownerKey: string, user: string): Promise<boolean> {
    return this.transaction(() => {
      const result = this.statement('DELETE FROM maintainers WHERE owner_key = ? AND user = ?').run(ownerKey, user);
      if (Number(result.changes) === 0) return false;
      this.bumpOwnerRevisions(ownerKey);
      return true;
    });
  }

  async recordDownload(name: string, version: string, day: string): Promise<void> {
    this.statement(
        'INSERT INTO downloads (name, version, day, count) VALUES (?, ?, ?, 1) ON CONFLICT (name, version, day) DO UPDATE SET count = count + 1',
      )
      .run(name, version, day);
  }

  async recordDownloads(counts: readonly DownloadCount[]): Promise<void> {
    if (counts.length === 0) return;
    this.transaction(() => {
      const upsert = this.statement(
        'INSERT INTO downloads (name, version, day, count) VALUES (?, ?, ?, ?) ON CONFLICT (name, version, day) DO UPDATE SET count = count + excluded.count',
      );
      for (const entry of counts) upsert.run(entry.name, entry.version, entry.day, entry.count);
    });
  }

  async getDownloads(name: string): Promise<DownloadStats> {
    const versions: Record<string, number> = {};
    let total = 0;
    for (const row of this.statement('SELECT version, SUM(count) AS n FROM downloads WHERE name = ? GROUP BY version').all(name)) {
      versions[text(row.version)] = Number(row.n);
      total += Number(row.n);
    }
    const daily = this.statement('SELECT day, SUM(count) AS n FROM downloads WHERE name = ? GROUP BY day ORDER BY day')
      .all(name)
      .map((row) => ({ day: text(row.day), count: Number(row.n) }));
    return { total, versions, daily };
  }

  async listPlugins(): Promise<PluginSummary[]> {
    return this.statement(
        `SELECT p.*, COALESCE((SELECT SUM(d.count) FROM downloads d WHERE d.name = p.name), 0) AS downloads
         FROM plugins p ORDER BY p.name`,
      )
      .all()
      .map((row) => {
        const plugin = toPlugin(row);
        const summary: PluginSummary = {
          name: plugin.name,
          keywords: plugin.keywords,
          version: plugin.distTags.latest ?? '',
          downloads: Number(row.downloads),
          modifiedAt: plugin.modifiedAt,
        };
        if (plugin.description !== undefined) summary.description = plugin.description;
        return summary;
      });
  }

  async createToken(record: TokenRecord): Promise<void> {
    this.statement('INSERT INTO tokens (id, hash, user, scopes, name, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)')
      .run(record.id, record.hash, record.user, JSON.stringify(record.scopes), record.name ?? null, record.createdAt, record.createdBy);
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = this.statement('SELECT * FROM tokens WHERE hash = ?').get(hash);
    return row ? toToken(row) : undefined;
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.statement('SELECT * FROM tokens WHERE id = ?').get(id);
    return row ? toToken(row) : undefined;
  }

  async listTokens(user?: string): Promise<TokenRecord[]> {
    const rows =
      user === undefined
        ? this.statement('SELECT * FROM tokens ORDER BY created_at, id').all()
        : this.statement('SELECT * FROM tokens WHERE user = ? ORDER BY created_at, id').all(user);
    return rows.map(toToken);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    const result = this.statement('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id);
    return Number(result.changes) > 0;
  }

  async close(): Promise<void> {
    this.statements.clear();
    if (this.db.isOpen) this.db.close();
  }
}
