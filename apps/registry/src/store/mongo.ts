import { PluglineError } from '@plugline/sdk';
import { type Collection, type Db, MongoClient, MongoServerError } from 'mongodb';
import { npmPackageOf, shouldBecomeLatest } from './latest.js';
import type {
  Actor,
  DownloadCount,
  DownloadStats,
  ListVersionsOptions,
  MetadataStore,
  NpmPackageRecord,
  NpmVersionRecord,
  PluginRecord,
  PublishOptions,
  PluginSummary,
  TokenRecord,
  VersionRecord,
} from './types.js';

/** A plugin's immutable facts, inserted once (unique name). */
interface PluginDoc {
  name: string;
  ownerKey: string;
  createdAt: string;
}
/** What changes about a plugin; one document per revision (unique `(name, rev)`), never updated. */
interface PluginStateDoc {
  name: string;
  rev: number;
  distTags: Record<string, string>;
  description?: string | null;
  keywords: string[];
  modifiedAt: string;
  /** True when written; set false on rev N by the writer of rev N+1 (a listing hint only, never trusted alone). */
  current?: boolean;
}
type StateContent = Omit<PluginStateDoc, 'name' | 'rev' | 'current'>;
/** The maintainers of an owner key; one document per revision (unique `(ownerKey, rev)`), never updated. */
interface OwnerDoc {
  ownerKey: string;
  rev: number;
  maintainers: { user: string; addedAt: string }[];
}
/** One written batch entry; a version's downloads are the sum of its rows. */
interface DownloadDoc {
  name: string;
  version: string;
  day: string;
  count: number;
}
type VersionDoc = VersionRecord & { seq: number };
/** One version of a plain npm package, inserted once (unique `(name, version)`); its dist-tags are derived. */
type NpmVersionDoc = NpmVersionRecord & { seq: number };

/** Compare-and-set retries before a change gives up (only under extreme contention on one plugin). */
const maxAttempts = 200;

function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === 11000;
}

function withoutId<T extends object>(doc: T & { _id?: unknown }): T {
  const { _id, ...rest } = doc;
  return rest as T;
}

function tooBusy(what: string): PluglineError {
  return new PluglineError('ERR_INTERNAL', `Too many concurrent changes to ${what}`);
}

/**
 * The metadata store on MongoDB's wire protocol (official driver), for MongoDB and for FerretDB.
 *
 * No multi-document transactions (standalone MongoDB and FerretDB have none), and no reliance on an
 * update being atomic: FerretDB v1 runs an update as a read, a change in memory and a write of the
 * whole document, so two concurrent `$inc`s or `$set`s on one document can lose one. Every guarantee
 * rests on the one primitive both servers make atomic, an insert into a unique index:
 *
 * - a version is published by inserting `(name, version)`: of concurrent publishes exactly one wins;
 * - what changes about a plugin (dist-tags, listing, revision) and about an owner key (maintainers)
 *   is a chain of immutable documents, one per revision: a change reads the newest (rev N) and
 *   inserts rev N+1, retrying when another writer inserted N+1 first (compare-and-set). Revisions
 *   therefore only grow, and no change is lost;
 * - download counts are inserted as rows and summed on read.
 *
 * A change to other data (a version's deprecation, maintainers) inserts a new plugin revision AFTER
 * it, so a reader that reads the revision first never caches data older than that revision. A chain's
 * head is found by point queries from the highest rev seen ({@link MongoMetadataStore.headRev}), never
 * by a sort (FerretDB v1 sorts in memory after reading every document).
 */
export class MongoMetadataStore implements MetadataStore {
  readonly engine = 'mongodb';
  /**
   * The highest rev seen per chain (`plugin:<name>` / `owner:<key>`), a lower bound of the head since
   * revs are never deleted. Finding the head from it takes one point query ("is there rev+1?") instead
   * of a sort: FerretDB v1 pushes only equality filters down to PostgreSQL, never a sort, so
   * `sort({ rev: -1 }).limit(1)` read every revision of the chain (184 ms at 500 revisions).
   */
  private readonly heads = new Map<string, number>();
  private constructor(
    private readonly client: MongoClient | undefined,
    readonly db: Db,
  ) {}

  /** Connects to `uri` (database from the URI, else `plugline`) and creates the indexes. */
  static async connect(uri: string, databaseName?: string): Promise<MongoMetadataStore> {
    const client = new MongoClient(uri);
    try {
      await client.connect();
      const store = new MongoMetadataStore(client, client.db(databaseName));
      await store.createIndexes();
      return store;
    } catch (error) {
      await client.close();
      throw error;
    }
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
  private get states(): Collection<PluginStateDoc> {
    return this.db.collection<PluginStateDoc>('plugin_states');
  }
  private get versions(): Collection<VersionDoc> {
    return this.db.collection<VersionDoc>('versions');
  }
  private get owners(): Collection<OwnerDoc> {
    return this.db.collection<OwnerDoc>('owners');
  }
  private get tokens(): Collection<TokenRecord> {
    return this.db.collection<TokenRecord>('tokens');
  }
  private get downloads(): Collection<DownloadDoc> {
    return this.db.collection<DownloadDoc>('downloads');
  }
  private get npmVersions(): Collection<NpmVersionDoc> {
    return this.db.collection<NpmVersionDoc>('npm_versions');
  }

  private async createIndexes(): Promise<void> {
    await Promise.all([
      this.plugins.createIndex({ name: 1 }, { unique: true }),
      this.plugins.createIndex({ ownerKey: 1 }),
      this.states.createIndex({ name: 1, rev: 1 }, { unique: true }),
      this.states.createIndex({ current: 1 }),
      this.versions.createIndex({ name: 1, version: 1 }, { unique: true }),
      this.versions.createIndex({ name: 1, seq: 1 }),
      this.owners.createIndex({ ownerKey: 1, rev: 1 }, { unique: true }),
      this.tokens.createIndex({ id: 1 }, { unique: true }),
      this.tokens.createIndex({ hash: 1 }, { unique: true }),
      this.downloads.createIndex({ name: 1, version: 1, day: 1 }),
      this.npmVersions.createIndex({ name: 1, version: 1 }, { unique: true }),
      this.npmVersions.createIndex({ name: 1, seq: 1 }),
    ]);
  }

  /** Inserts `doc`; false when its unique key is taken (another writer was first). */
  private async insertUnique<T extends object>(collection: Collection<T>, doc: T): Promise<boolean> {
    try {
      await collection.insertOne({ ...doc } as Parameters<Collection<T>['insertOne']>[0]);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /**
   * The head rev of a chain (0 when it has none): from the cached lower bound, step up while rev+1
   * exists; unknown chains by doubling, then bisecting. Revs of a chain are contiguous (each is
   * inserted as its predecessor + 1, and none is ever deleted), so this finds the true head.
   */
  private async headRev(kind: 'plugin' | 'owner', key: string): Promise<number> {
    const exists = async (rev: number): Promise<boolean> =>
      kind === 'plugin'
        ? (await this.states.findOne({ name: key, rev }, { projection: { _id: 1 } })) !== null
        : (await this.owners.findOne({ ownerKey: key, rev }, { projection: { _id: 1 } })) !== null;
    const cacheKey = `${kind}:${key}`;
    let low = this.heads.get(cacheKey) ?? 0;
    if (low === 0) {
      // Doubling: the first missing power of two bounds the head.
      let high = 1;
      while (await exists(high)) {
        low = high;
        high *= 2;
      }
      while (high - low > 1) {
        const middle = Math.floor((low + high) / 2);
        if (await exists(middle)) low = middle;
        else high = middle;
      }
      // low exists (or is 0) and low + 1 did not, a moment ago.
    } else {
      while (await exists(low + 1)) low += 1;
    }
    if (low > 0) {
      if (this.heads.size >= 100_000) this.heads.clear();
      this.heads.set(cacheKey, low);
    }
    return low;
  }

  private async currentOwner(ownerKey: string): Promise<OwnerDoc | null> {
    const rev = await this.headRev('owner', ownerKey);
    return rev === 0 ? null : this.owners.findOne({ ownerKey, rev }, { projection: { _id: 0 } });
  }

  async getMaintainers(ownerKey: string): Promise<string[]> {
    return (await this.currentOwner(ownerKey))?.maintainers.map((entry) => entry.user) ?? [];
  }

  /**
   * The newest state of a plugin. A plugin whose first publish stopped between the version insert and
   * its first state (a crash) gets one derived from its versions, at revision 0.
   */
  private async currentState(name: string): Promise<PluginStateDoc | undefined> {
    const rev = await this.headRev('plugin', name);
    const state = rev === 0 ? null : await this.states.findOne({ name, rev }, { projection: { _id: 0, current: 0 } });
    if (state) return state;
    if (!(await this.plugins.findOne({ name }, { projection: { _id: 1 } }))) return undefined;
    const derived: PluginStateDoc = { name, rev: 0, distTags: {}, keywords: [], modifiedAt: '' };
    let latest: VersionDoc | undefined;
    for (const version of await this.versions.find({ name }, { projection: { _id: 0, readme: 0 } }).sort({ seq: 1 }).toArray()) {
      if (shouldBecomeLatest(latest?.version, version.version)) latest = version;
    }
    if (latest) {
      derived.distTags.latest = latest.version;
      derived.description = latest.manifest.description ?? null;
      derived.keywords = latest.manifest.keywords ?? [];
      derived.modifiedAt = latest.publishedAt;
    }
    return derived;
  }

  /**
   * Compare-and-set on the plugin's state chain: `change` gets a copy of the newest state and returns
   * the next one (or undefined: no change). True when a new revision was written; false when there is
   * no such plugin or nothing to change.
   */
  private async changeState(name: string, change: (state: StateContent) => StateContent | undefined): Promise<boolean> {
    for (let attempt = 0; attempt < maxAttempts; attempt += 1) {
      const current = await this.currentState(name);
      if (!current) return false;
      const { name: _name, rev, ...content } = current;
      const next = change(structuredClone(content));
      if (next === undefined) return false;
      if (await this.insertUnique(this.states, { ...next, name, rev: rev + 1, current: true })) {
        // Only the writer of rev+1 touches rev (no lost update): a hint for listPlugins.
        if (rev > 0) await this.states.updateOne({ name, rev }, { $set: { current: false } });
        return true;
      }
    }
    throw tooBusy(name);
  }

  /** A new revision for `name` with unchanged content: announces a change made elsewhere (always after it). */
  private async bumpRevision(name: string): Promise<void> {
    await this.changeState(name, (state) => state);
  }

  /** Claims the owner key when nobody has (of concurrent first publishers the first insert wins), else requires a maintainer or the admin. */
  private async claimOwnerKey(ownerKey: string, actor: Actor, at: string): Promise<void> {
    let owner = await this.currentOwner(ownerKey);
    if (!owner) {
      await this.insertUnique(this.owners, { ownerKey, rev: 1, maintainers: [{ user: actor.user, addedAt: at }] });
      owner = await this.currentOwner(ownerKey);
    }
    if (!actor.admin && !owner?.maintainers.some((entry) => entry.user === actor.user)) {
      throw new PluglineError('ERR_FORBIDDEN', `${actor.user} is not a maintainer of ${ownerKey}`);
    }
  }

  async publishVersion(record: VersionRecord, ownerKey: string, actor: Actor, options: PublishOptions = {}): Promise<void> {
    await this.claimOwnerKey(ownerKey, actor, record.publishedAt);
    await this.insertUnique(this.plugins, { name: record.name, ownerKey, createdAt: record.publishedAt });
    // The commit point: the unique (name, version) insert.
    try {
      await this.versions.insertOne({ ...record, seq: Date.now() * 1000 + Math.floor(Math.random() * 1000) });
    } catch (error) {
      if (isDuplicateKey(error)) throw new PluglineError('ERR_VERSION_EXISTS', `${record.name}@${record.version} is already published`);
      throw error;
    }
    // Then the new revision, moving `latest` when this is the highest release (and not published under another tag).
    const { tag } = options;
    await this.changeState(record.name, (state) => {
      const tagged = tag !== undefined && tag !== 'latest' ? { ...state.distTags, [tag]: record.version } : state.distTags;
      if (!shouldBecomeLatest(state.distTags.latest, record.version, tag)) return { ...state, distTags: tagged };
      return {
        ...state,
        distTags: { ...tagged, latest: record.version },
        description: record.manifest.description ?? null,
        keywords: record.manifest.keywords ?? [],
        modifiedAt: record.publishedAt,
      };
    });
  }

  async getPluginRevision(name: string): Promise<number | undefined> {
    const rev = await this.headRev('plugin', name);
    if (rev > 0) return rev;
    return (await this.plugins.findOne({ name }, { projection: { _id: 1 } })) ? 0 : undefined;
  }

  async listVersionNumbers(name: string): Promise<string[]> {
    const docs = await this.versions.find({ name }, { projection: { _id: 0, version: 1 } }).sort({ seq: 1 }).toArray();
    return docs.map((doc) => doc.version);
  }

  private toRecord(plugin: PluginDoc, state: StateContent): PluginRecord | undefined {
    if (state.distTags.latest === undefined) return undefined; // no version yet
    const record: PluginRecord = {
      name: plugin.name,
      ownerKey: plugin.ownerKey,
      keywords: state.keywords ?? [],
      distTags: state.distTags,
      createdAt: plugin.createdAt,
      modifiedAt: state.modifiedAt || plugin.createdAt,
    };
    if (typeof state.description === 'string') record.description = state.description;
    return record;
  }

  async getPlugin(name: string): Promise<PluginRecord | undefined> {
    const [plugin, state] = await Promise.all([this.plugins.findOne({ name }, { projection: { _id: 0 } }), this.currentState(name)]);
    return plugin && state ? this.toRecord(plugin, state) : undefined;
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
    const target = tag === 'latest' ? await this.getVersion(name, version) : undefined;
    const changed = await this.changeState(name, (state) => {
      const next: StateContent = { ...state, distTags: { ...state.distTags, [tag]: version }, modifiedAt: new Date().toISOString() };
      if (target) {
        next.description = target.manifest.description ?? null;
        next.keywords = target.manifest.keywords ?? [];
      }
      return next;
    });
    if (!changed) throw new PluglineError('ERR_PLUGIN_NOT_FOUND', `No plugin named ${name}`);
  }

  async deleteDistTag(name: string, tag: string): Promise<boolean> {
    return this.changeState(name, (state) => {
      if (!(tag in state.distTags)) return undefined;
      const distTags = { ...state.distTags };
      delete distTags[tag];
      return { ...state, distTags, modifiedAt: new Date().toISOString() };
    });
  }

  async setDeprecated(name: string, version: string, message: string | undefined): Promise<boolean> {
    // Concurrent (un)deprecations of one version: the last write wins, as in the embedded store.
    const result = await this.versions.updateOne(
      { name, version },
      message === undefined ? { $unset: { deprecated: '' } } : { $set: { deprecated: message } },
    );
    if (result.matchedCount === 0) return false;
    await this.bumpRevision(name);
    return true;
  }

  /** Compare-and-set on the owner key's maintainer chain, then a new revision for each of its plugins. */
  private async changeMaintainers(ownerKey: string, change: (list: OwnerDoc['maintainers']) => OwnerDoc['maintainers'] | undefined): Promise<boolean> {
    for (let attempt = 0; attempt < maxAttempts; attempt += 1) {
      const owner = await this.currentOwner(ownerKey);
      if (!owner) return false;
      const next = change(owner.maintainers);
      if (next === undefined) return false;
      if (await this.insertUnique(this.owners, { ownerKey, rev: owner.rev + 1, maintainers: next })) {
        // Every document of the owner key lists the maintainers.
        const names = await this.plugins.find({ ownerKey }, { projection: { _id: 0, name: 1 } }).toArray();
        await Promise.all(names.map((plugin) => this.bumpRevision(plugin.name)));
        return true;
      }
    }
    throw tooBusy(ownerKey);
  }

  async addMaintainer(ownerKey: string, user: string): Promise<void> {
    await this.changeMaintainers(ownerKey, (list) =>
      list.some((entry) => entry.user === user) ? undefined : [...list, { user, addedAt: new Date().toISOString() }],
    );
  }

  async removeMaintainer(ownerKey: string, user: string): Promise<boolean> {
    return this.changeMaintainers(ownerKey, (list) => (list.some((entry) => entry.user === user) ? list.filter((entry) => entry.user !== user) : undefined));
  }

  async recordDownload(name: string, version: string, day: string): Promise<void> {
    await this.recordDownloads([{ name, version, day, count: 1 }]);
  }

  /**
   * One inserted row per entry (an insert is never lost, unlike a concurrent `$inc` on FerretDB). Not
   * a transaction: if some inserts fail, the error carries the `unwritten` entries (the others are in
   * the store), so a retry counts nothing twice.
   */
  async recordDownloads(counts: readonly DownloadCount[]): Promise<void> {
    const results = await Promise.allSettled(counts.map(({ name, version, day, count }) => this.downloads.insertOne({ name, version, day, count })));
    const unwritten = counts.filter((_, index) => results[index]?.status === 'rejected');
    if (unwritten.length === 0) return;
    const first = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    throw Object.assign(new Error(`${unwritten.length} of ${counts.length} download counts were not written`, { cause: first?.reason }), { unwritten });
  }

  async getDownloads(name: string): Promise<DownloadStats> {
    const rows = await this.downloads.find({ name }, { projection: { _id: 0 } }).toArray();
    const versions: Record<string, number> = {};
    const days = new Map<string, number>();
    let total = 0;
    for (const row of rows) {
      versions[row.version] = (versions[row.version] ?? 0) + row.count;
      days.set(row.day, (days.get(row.day) ?? 0) + row.count);
      total += row.count;
    }
    const daily = [...days.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([day, count]) => ({ day, count }));
    return { total, versions, daily };
  }

  async listPlugins(): Promise<PluginSummary[]> {
    const totals = new Map<string, number>();
    for await (const row of this.downloads.aggregate<{ _id: string; total: number }>([{ $group: { _id: '$name', total: { $sum: '$count' } } }])) {
      totals.set(row._id, row.total);
    }
    // The newest state of every plugin: those still marked current (an equality filter, pushed down
    // by FerretDB too); a crash can leave an older one marked, so the highest rev per name wins.
    const states = new Map<string, PluginStateDoc>();
    for (const state of await this.states.find({ current: true }, { projection: { _id: 0, current: 0 } }).toArray()) {
      const seen = states.get(state.name);
      if (!seen || seen.rev < state.rev) states.set(state.name, state);
    }
    const summaries: PluginSummary[] = [];
    for (const plugin of await this.plugins.find({}, { projection: { _id: 0 } }).sort({ name: 1 }).toArray()) {
      const state = states.get(plugin.name) ?? (await this.currentState(plugin.name));
      const record = state && this.toRecord(plugin, state);
      if (!record?.distTags.latest) continue;
      const summary: PluginSummary = {
        name: record.name,
        keywords: record.keywords,
        version: record.distTags.latest,
        downloads: totals.get(record.name) ?? 0,
        modifiedAt: record.modifiedAt,
      };
      if (record.description !== undefined) summary.description = record.description;
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

  /** Two concurrent revocations of one token may both answer true on FerretDB; either way it is revoked. */
  async listTokens(user?: string): Promise<TokenRecord[]> {
    const docs = await this.tokens.find(user === undefined ? {} : { user }, { projection: { _id: 0 } }).toArray();
    // Sorted here: FerretDB v1 sorts in memory anyway.
    return docs.map((doc) => withoutId(doc)).sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1));
  }

  async publishNpmVersion(record: NpmVersionRecord, ownerKey: string, actor: Actor): Promise<void> {
    await this.claimOwnerKey(ownerKey, actor, record.publishedAt);
    // The only write: a unique insert. The dist-tags are derived from the versions on read.
    if (!(await this.insertUnique(this.npmVersions, { ...record, seq: Date.now() * 1000 + Math.floor(Math.random() * 1000) }))) {
      throw new PluglineError('ERR_VERSION_EXISTS', `${record.name}@${record.version} is already published`);
    }
  }

  async getNpmPackage(name: string): Promise<NpmPackageRecord | undefined> {
    const docs = await this.npmVersions.find({ name }, { projection: { _id: 0 } }).toArray();
    const versions = docs.sort((a, b) => a.seq - b.seq).map(({ seq: _seq, ...version }) => withoutId(version) as NpmVersionRecord);
    return npmPackageOf(name, versions);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    const result = await this.tokens.updateOne({ id, revokedAt: { $exists: false } }, { $set: { revokedAt: at } });
    return result.modifiedCount > 0;
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}
