import { PluglineError } from '@plugline/sdk';
import { type Collection, type Db, MongoClient, MongoServerError } from 'mongodb';
import { shouldBecomeLatest } from './latest.js';
import type {
  Actor,
  PublishOptions,
  DownloadCount,
  DownloadStats,
  ListVersionsOptions,
  MetadataStore,
  NpmPackageRecord,
  NpmVersionRecord,
  PluginRecord,
  PluginSummary,
  TokenRecord,
  VersionRecord,
} from './types.js';

interface MaintainerDoc {
  ownerKey: string;
  maintainers: { user: string; addedAt: string }[];
}
interface DownloadDoc {
  name: string;
  version: string;
  day: string;
  count: number;
}
type VersionDoc = VersionRecord & { seq: number };
type NpmVersionDoc = NpmVersionRecord & { seq: number };
interface NpmPackageDoc {
  name: string;
  distTags: Record<string, string>;
  createdAt: string;
  modifiedAt: string;
}
/** The stored plugin document: the record plus its revision (see {@link MetadataStore.getPluginRevision}). */
type PluginDoc = PluginRecord & { revision?: number };

function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === 11000;
}

function withoutId<T extends object>(doc: T & { _id?: unknown }): T {
  const { _id, ...rest } = doc;
  return rest as T;
}

/**
 * The production metadata store on MongoDB (official driver). Unique indexes on `(name, version)`,
 * plugin name, owner key and token id/hash make concurrent publishes of one version end with exactly
 * one winner. A publish claims the owner key, then inserts the version (the unique insert is the commit
 * point), then updates the plugin's dist-tags; `latest` is re-derived on read if a crash interrupted that.
 */
export class MongoMetadataStore implements MetadataStore {
  readonly engine = 'mongodb';
  private constructor(
    private readonly client: MongoClient | undefined,
    readonly db: Db,
  ) {}

  /** Connects to `uri` (database from the URI, else `plugline`) and creates the indexes. */
  static async connect(uri: string, databaseName?: string): Promise<MongoMetadataStore> {
    const client = new MongoClient(uri);
    await client.connect();
    const store = new MongoMetadataStore(client, client.db(databaseName));
    await store.createIndexes();
    return store;
  }

  /** Wraps an already connected database (the caller closes its client). */
  static async fromDb(db: Db): Promise<MongoMetadataStore> {
    const store = new MongoMetadataStore(undefined, db);
    await store.createIndexes();
    return store;
  }

  private get plugins(): Collection<PluginDoc> {
    return this.db.collection<PluginDoc>('plugins');
  }
  private get versions(): Collection<VersionDoc> {
    return this.db.collection<VersionDoc>('versions');
  }
  private get maintainers(): Collection<MaintainerDoc> {
    return this.db.collection<MaintainerDoc>('maintainers');
  }
  private get tokens(): Collection<TokenRecord> {
    return this.db.collection<TokenRecord>('tokens');
  }
  private get downloads(): Collection<DownloadDoc> {
    return this.db.collection<DownloadDoc>('downloads');
  }

  private get npmPackages(): Collection<NpmPackageDoc> {
    return this.db.collection<NpmPackageDoc>('npm_packages');
  }
  private get npmVersions(): Collection<NpmVersionDoc> {
    return this.db.collection<NpmVersionDoc>('npm_versions');
  }

  private async createIndexes(): Promise<void> {
    await Promise.all([
      this.plugins.createIndex({ name: 1 }, { unique: true }),
      this.versions.createIndex({ name: 1, version: 1 }, { unique: true }),
      this.npmPackages.createIndex({ name: 1 }, { unique: true }),
      this.npmVersions.createIndex({ name: 1, version: 1 }, { unique: true }),
      this.versions.createIndex({ name: 1, seq: 1 }),
      this.maintainers.createIndex({ ownerKey: 1 }, { unique: true }),
      this.tokens.createIndex({ id: 1 }, { unique: true }),
      this.tokens.createIndex({ hash: 1 }, { unique: true }),
      this.downloads.createIndex({ name: 1, version: 1, day: 1 }, { unique: true }),
    ]);
  }

  async getMaintainers(ownerKey: string): Promise<string[]> {
    const doc = await this.maintainers.findOne({ ownerKey });
    return doc ? doc.maintainers.map((entry) => entry.user) : [];
  }

  /** Claims an unowned `ownerKey` for the actor, else requires a maintainer or the admin (`ERR_FORBIDDEN`). */
  private async claimOwnerKey(ownerKey: string, actor: Actor, at: string): Promise<void> {
    let owners: MaintainerDoc | null;
    try {
      owners = await this.maintainers.findOneAndUpdate(
        { ownerKey },
        { $setOnInsert: { ownerKey, maintainers: [{ user: actor.user, addedAt: at }] } },
        { upsert: true, returnDocument: 'after' },
      );
    } catch (error) {
      // Two first publishes raced on the upsert; the loser reads the winner's claim.
      if (!isDuplicateKey(error)) throw error;
      owners = await this.maintainers.findOne({ ownerKey });
    }
    if (!actor.admin && !owners?.maintainers.some((entry) => entry.user === actor.user)) {
      throw new PluglineError('ERR_FORBIDDEN', `${actor.user} is not a maintainer of ${ownerKey}`);
    }
  }

  async publishNpmVersion(record: NpmVersionRecord, ownerKey: string, actor: Actor, options: PublishOptions = {}): Promise<void> {
    await this.claimOwnerKey(ownerKey, actor, record.publishedAt);
    await this.npmPackages.updateOne(
      { name: record.name },
      { $setOnInsert: { name: record.name, distTags: {}, createdAt: record.publishedAt, modifiedAt: record.publishedAt } },
      { upsert: true },
    );
    try {
      await this.npmVersions.insertOne({ ...record, seq: Date.now() * 1000 + Math.floor(Math.random() * 1000) });
    } catch (error) {
      if (isDuplicateKey(error)) throw new PluglineError('ERR_VERSION_EXISTS', `${record.name}@${record.version} is already published`);
      throw error;
    }
    if (options.tag !== undefined && options.tag !== 'latest') {
      await this.npmPackages.updateOne({ name: record.name }, { $set: { [`distTags.${options.tag}`]: record.version, modifiedAt: record.publishedAt } });
    }
    // Compare-and-set on latest, retried when a concurrent publish moved it first.
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const current = (await this.npmPackages.findOne({ name: record.name }))?.distTags.latest;
      if (!shouldBecomeLatest(current, record.version, options.tag)) return;
      const result = await this.npmPackages.updateOne(
        { name: record.name, 'distTags.latest': current ?? { $exists: false } },
        { $set: { 'distTags.latest': record.version, modifiedAt: record.publishedAt } },
      );
      if (result.modifiedCount === 1) return;
    }
  }

  async getNpmPackage(name: string): Promise<NpmPackageRecord | undefined> {
    const doc = await this.npmPackages.findOne({ name }, { projection: { _id: 0 } });
    if (!doc) return undefined;
    const versions = await this.npmVersions.find({ name }, { projection: { _id: 0, seq: 0 } }).sort({ seq: 1 }).toArray();
    return { ...withoutId(doc), versions: versions.map((version) => withoutId(version) as NpmVersionRecord) };
  }

  async publishVersion(record: VersionRecord, ownerKey: string, actor: Actor, options: PublishOptions = {}): Promise<void> {
    await this.claimOwnerKey(ownerKey, actor, record.publishedAt);
    await this.plugins.updateOne(
      { name: record.name },
      {
        $setOnInsert: {
          name: record.name,
          ownerKey,
          keywords: [],
          distTags: {},
          createdAt: record.publishedAt,
          modifiedAt: record.publishedAt,
        },
      },
      { upsert: true },
    );
    try {
      await this.versions.insertOne({ ...record, seq: Date.now() * 1000 + Math.floor(Math.random() * 1000) });
    } catch (error) {
      if (isDuplicateKey(error)) throw new PluglineError('ERR_VERSION_EXISTS', `${record.name}@${record.version} is already published`);
      throw error;
    }
    if (options.tag !== undefined && options.tag !== 'latest') {
      await this.plugins.updateOne({ name: record.name }, { $set: { [`distTags.${options.tag}`]: record.version, modifiedAt: record.publishedAt } });
    }
    await this.moveLatestIfHigher(record, options.tag);
    // Bumped after the change (no multi-document transaction): a reader that saw the old revision
    // rebuilds on its next read; one that already sees the new data under the old revision too.
    await this.bumpRevision({ name: record.name });
  }

  /** A new revision for the matching plugins (always after the change it announces). */
  private async bumpRevision(filter: { name: string } | { ownerKey: string }): Promise<void> {
    await this.plugins.updateMany(filter, { $inc: { revision: 1 } });
  }

  async getPluginRevision(name: string): Promise<number | undefined> {
    const doc = await this.plugins.findOne({ name }, { projection: { _id: 0, revision: 1 } });
    return doc ? (doc.revision ?? 0) : undefined;
  }

  async listVersionNumbers(name: string): Promise<string[]> {
    const docs = await this.versions.find({ name }, { projection: { _id: 0, version: 1 } }).sort({ seq: 1 }).toArray();
    return docs.map((doc) => doc.version);
  }

  /** Compare-and-set on `distTags.latest`, retried when a concurrent publish moved it first. */
  private async moveLatestIfHigher(record: VersionRecord, tag?: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const plugin = await this.plugins.findOne({ name: record.name });
      const current = plugin?.distTags.latest;
      if (!shouldBecomeLatest(current, record.version, tag)) return;
      const result = await this.plugins.updateOne(
        { name: record.name, 'distTags.latest': current ?? { $exists: false } },
        {
          $set: {
            'distTags.latest': record.version,
            description: record.manifest.description,
            keywords: record.manifest.keywords ?? [],
            modifiedAt: record.publishedAt,
          },
        },
      );
      if (result.modifiedCount === 1) return;
    }
  }

  async getPlugin(name: string): Promise<PluginRecord | undefined> {
    const doc = await this.plugins.findOne({ name }, { projection: { _id: 0, revision: 0 } });
    if (!doc) return undefined;
    const plugin: PluginRecord = withoutId(doc);
    if (plugin.description === undefined || plugin.description === null) delete plugin.description;
    if (plugin.distTags.latest === undefined) {
      // A publish was interrupted before moving `latest`: derive it from the stored versions.
      let latest: string | undefined;
      for (const version of await this.listVersions(name, { readme: false })) if (shouldBecomeLatest(latest, version.version)) latest = version.version;
      if (latest === undefined) return undefined;
      plugin.distTags = { ...plugin.distTags, latest };
    }
    return plugin;
  }

  async getVersion(name: string, version: string): Promise<VersionRecord | undefined> {
    const doc = await this.versions.findOne({ name, version }, { projection: { _id: 0, seq: 0 } });
    return doc ? withoutId(doc) : undefined;
  }

  async listVersions(name: string, options: ListVersionsOptions = {}): Promise<VersionRecord[]> {
    const projection = options.readme === false ? { _id: 0, seq: 0, readme: 0 } : { _id: 0, seq: 0 };
    const docs = await this.versions.find({ name }, { projection }).sort({ seq: 1 }).toArray();
    return docs.map((doc) => withoutId(doc));
  }

  async setDistTag(name: string, tag: string, version: string): Promise<void> {
    const update: Record<string, unknown> = { [`distTags.${tag}`]: version, modifiedAt: new Date().toISOString() };
    if (tag === 'latest') {
      const target = await this.getVersion(name, version);
      if (target) {
        update.description = target.manifest.description;
        update.keywords = target.manifest.keywords ?? [];
      }
    }
    const result = await this.plugins.updateOne({ name }, { $set: update, $inc: { revision: 1 } });
    if (result.matchedCount === 0) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No plugin named ${name}`);
  }

  async deleteDistTag(name: string, tag: string): Promise<boolean> {
    const result = await this.plugins.updateOne(
      { name, [`distTags.${tag}`]: { $exists: true } },
      { $unset: { [`distTags.${tag}`]: '' }, $set: { modifiedAt: new Date().toISOString() }, $inc: { revision: 1 } },
    );
    return result.modifiedCount > 0;
  }

  async setDeprecated(name: string, version: string, message: string | undefined): Promise<boolean> {
    const result = await this.versions.updateOne(
      { name, version },
      message === undefined ? { $unset: { deprecated: '' } } : { $set: { deprecated: message } },
    );
    if (result.matchedCount === 0) return false;
    await this.bumpRevision({ name });
    return true;
  }

  async addMaintainer(ownerKey: string, user: string): Promise<void> {
    const result = await this.maintainers.updateOne(
      { ownerKey, 'maintainers.user': { $ne: user } },
      { $push: { maintainers: { user, addedAt: new Date().toISOString() } } },
    );
    if (result.modifiedCount > 0) await this.bumpRevision({ ownerKey });
  }

  async removeMaintainer(ownerKey: string, user: string): Promise<boolean> {
    const result = await this.maintainers.updateOne({ ownerKey }, { $pull: { maintainers: { user } } });
    if (result.modifiedCount === 0) return false;
    await this.bumpRevision({ ownerKey });
    return true;
  }

  async recordDownload(name: string, version: string, day: string): Promise<void> {
    await this.downloads.updateOne({ name, version, day }, { $inc: { count: 1 } }, { upsert: true });
  }

  async recordDownloads(counts: readonly DownloadCount[]): Promise<void> {
    if (counts.length === 0) return;
    await this.downloads.bulkWrite(
      counts.map(({ name, version, day, count }) => ({ updateOne: { filter: { name, version, day }, update: { $inc: { count } }, upsert: true } })),
      { ordered: false },
    );
  }

  async getDownloads(name: string): Promise<DownloadStats> {
    const rows = await this.downloads.find({ name }).toArray();
    const versions: Record<string, number> = {};
    const days = new Map<string, number>();
    let total = 0;
    for (const row of rows) {
      versions[row.version] = (versions[row.version] ?? 0) + row.count;
      days.set(row.day, (days.get(row.day) ?? 0) + row.count);
      total += row.count;
    }
    const daily = [...days.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([day, count]) => ({ day, count }));
    return { total, versions, daily };
  }

  async listPlugins(): Promise<PluginSummary[]> {
    const totals = new Map<string, number>();
    for await (const row of this.downloads.aggregate<{ _id: string; total: number }>([
      { $group: { _id: '$name', total: { $sum: '$count' } } },
    ])) {
      totals.set(row._id, row.total);
    }
    const plugins = await this.plugins.find({}, { projection: { _id: 0, revision: 0 } }).sort({ name: 1 }).toArray();
    const summaries: PluginSummary[] = [];
    for (const plugin of plugins) {
      const version = plugin.distTags.latest ?? (await this.getPlugin(plugin.name))?.distTags.latest;
      if (version === undefined) continue;
      const summary: PluginSummary = {
        name: plugin.name,
        keywords: plugin.keywords ?? [],
        version,
        downloads: totals.get(plugin.name) ?? 0,
        modifiedAt: plugin.modifiedAt,
      };
      if (typeof plugin.description === 'string') summary.description = plugin.description;
      summaries.push(summary);
    }
    return summaries;
  }

  async createToken(record: TokenRecord): Promise<void> {
    await this.tokens.insertOne({ ...record });
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const doc = await this.tokens.findOne({ hash }, { projection: { _id: 0 } });
    return doc ? withoutId(doc) : undefined;
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const doc = await this.tokens.findOne({ id }, { projection: { _id: 0 } });
    return doc ? withoutId(doc) : undefined;
  }

  async listTokens(user?: string): Promise<TokenRecord[]> {
    const docs = await this.tokens
      .find(user === undefined ? {} : { user }, { projection: { _id: 0 } })
      .sort({ createdAt: 1, id: 1 })
      .toArray();
    return docs.map(withoutId);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    const result = await this.tokens.updateOne({ id, revokedAt: { $exists: false } }, { $set: { revokedAt: at } });
    return result.modifiedCount > 0;
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}
