import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluglineError } from '@plugline/sdk';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { mongoDataset, skipWithoutMongo } from '../engines.test-helpers.js';
import { fixtureManifest } from '../testing.js';
import { MongoMetadataStore } from './mongo.js';
import { SqliteMetadataStore } from './sqlite.js';
import type { MetadataStore, VersionRecord } from './types.js';

/** A fresh, empty store; `reopen` opens the same data again (a restart), `dispose` deletes it. */
interface StoreHandle {
  store: MetadataStore;
  reopen(): Promise<MetadataStore>;
  dispose(): Promise<void>;
}

const alice = { user: 'alice', admin: false };
const bob = { user: 'bob', admin: false };
const admin = { user: 'admin', admin: true };

function versionRecord(name: string, version: string, extra: Partial<VersionRecord> = {}): VersionRecord {
  return {
    name,
    version,
    integrity: `sha512-${randomBytes(64).toString('base64')}`,
    size: 123,
    manifest: fixtureManifest(name, version, { description: `${name} at ${version}`, keywords: [`kw-${version}`] }),
    publishedAt: new Date().toISOString(),
    ...extra,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as PluglineError).code;
  }
}

/** The conformance suite every MetadataStore engine must pass. */
function metadataStoreConformance(engine: string, open: () => Promise<StoreHandle>): void {
  describe(`MetadataStore conformance: ${engine}`, () => {
    const handles: StoreHandle[] = [];
    const fresh = async (): Promise<MetadataStore> => {
      const handle = await open();
      handles.push(handle);
      return handle.store;
    };
    afterEach(async () => {
      for (const handle of handles.splice(0)) await handle.dispose();
    });

    it('publishes a first version: claims the owner key, creates the plugin and points latest at it', async () => {
      const store = await fresh();
      expect(await store.getPlugin('geo')).toBeUndefined();
      await store.publishVersion(versionRecord('geo', '1.0.0', { readme: '# Geo' }), 'geo', alice);
      expect(await store.getMaintainers('geo')).toEqual(['alice']);
      const plugin = await store.getPlugin('geo');
      expect(plugin).toMatchObject({ name: 'geo', ownerKey: 'geo', distTags: { latest: '1.0.0' }, description: 'geo at 1.0.0', keywords: ['kw-1.0.0'] });
      const version = await store.getVersion('geo', '1.0.0');
      expect(version?.readme).toBe('# Geo');
      expect((await store.listVersions('geo'))[0]?.readme).toBe('# Geo');
      const [light] = await store.listVersions('geo', { readme: false });
      expect(light).toBeDefined();
      expect(light).not.toHaveProperty('readme');
      expect(light?.integrity).toBe(version?.integrity);
      expect(version?.manifest.name).toBe('geo');
      expect(version?.deprecated).toBeUndefined();
      expect(await store.getVersion('geo', '9.9.9')).toBeUndefined();
    });

    it('refuses a second publish of one version with ERR_VERSION_EXISTS and keeps the first', async () => {
      const store = await fresh();
      const first = versionRecord('geo', '1.0.0');
      await store.publishVersion(first, 'geo', alice);
      expect(await codeOf(store.publishVersion(versionRecord('geo', '1.0.0'), 'geo', alice))).toBe('ERR_VERSION_EXISTS');
      expect((await store.getVersion('geo', '1.0.0'))?.integrity).toBe(first.integrity);
      expect(await store.listVersions('geo')).toHaveLength(1);
    });

    it('lets exactly one of two concurrent publishes of one version win', async () => {
      const store = await fresh();
      const results = await Promise.allSettled([
        store.publishVersion(versionRecord('race', '1.0.0'), 'race', alice),
        store.publishVersion(versionRecord('race', '1.0.0'), 'race', alice),
      ]);
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      expect((rejected?.reason as PluglineError | undefined)?.code).toBe('ERR_VERSION_EXISTS');
      expect(await store.listVersions('race')).toHaveLength(1);
    });

    it('enforces ownership: others get ERR_FORBIDDEN and leave nothing behind; maintainers and the admin may publish', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('owned', '1.0.0'), 'owned', alice);
      expect(await codeOf(store.publishVersion(versionRecord('owned', '1.1.0'), 'owned', bob))).toBe('ERR_FORBIDDEN');
      expect(await store.getVersion('owned', '1.1.0')).toBeUndefined();
      expect((await store.getPlugin('owned'))?.distTags.latest).toBe('1.0.0');
      await store.publishVersion(versionRecord('owned', '1.2.0'), 'owned', admin);
      await store.addMaintainer('owned', 'bob');
      await store.addMaintainer('owned', 'bob');
      expect(await store.getMaintainers('owned')).toEqual(['alice', 'bob']);
      await store.publishVersion(versionRecord('owned', '1.3.0'), 'owned', bob);
      expect(await store.removeMaintainer('owned', 'bob')).toBe(true);
      expect(await store.removeMaintainer('owned', 'bob')).toBe(false);
      expect(await codeOf(store.publishVersion(versionRecord('owned', '1.4.0'), 'owned', bob))).toBe('ERR_FORBIDDEN');
    });

    it('makes a scope the owner of every name in it', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('@acme/one', '1.0.0'), '@acme', alice);
      expect(await codeOf(store.publishVersion(versionRecord('@acme/two', '1.0.0'), '@acme', bob))).toBe('ERR_FORBIDDEN');
      await store.publishVersion(versionRecord('@acme/two', '1.0.0'), '@acme', alice);
      expect((await store.getPlugin('@acme/two'))?.ownerKey).toBe('@acme');
      expect(await store.getPlugin('@acme/three')).toBeUndefined();
    });

    it('moves latest only to higher releases, never from a release to a prerelease', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('tags', '1.0.0'), 'tags', alice);
      await store.publishVersion(versionRecord('tags', '2.0.0-beta.1'), 'tags', alice);
      expect((await store.getPlugin('tags'))?.distTags.latest).toBe('1.0.0');
      await store.publishVersion(versionRecord('tags', '0.9.0'), 'tags', alice);
      expect((await store.getPlugin('tags'))?.distTags.latest).toBe('1.0.0');
      await store.publishVersion(versionRecord('tags', '1.1.0'), 'tags', alice);
      const plugin = await store.getPlugin('tags');
      expect(plugin?.distTags.latest).toBe('1.1.0');
      expect(plugin?.description).toBe('tags at 1.1.0');
      expect((await store.listVersions('tags')).map((version) => version.version)).toEqual(['1.0.0', '2.0.0-beta.1', '0.9.0', '1.1.0']);
    });

    it('keeps plain npm packages: versions inserted once, dist-tags derived, the owner key shared with plugins', async () => {
      const store = await fresh();
      const npmVersion = (version: string, tag?: string) => ({
        name: '@acme/sdk',
        version,
        integrity: `sha512-${version}`,
        shasum: 'ab',
        size: 10,
        manifest: { name: '@acme/sdk', version },
        publishedAt: new Date().toISOString(),
        ...(tag ? { tag } : {}),
      });
      expect(await store.getNpmPackage('@acme/sdk')).toBeUndefined();
      await store.publishNpmVersion(npmVersion('1.0.0'), '@acme', alice);
      await store.publishNpmVersion(npmVersion('2.0.0-beta.1', 'beta'), '@acme', alice);
      await store.publishNpmVersion(npmVersion('1.1.0'), '@acme', alice);
      await expect(store.publishNpmVersion(npmVersion('1.1.0'), '@acme', alice)).rejects.toMatchObject({ code: 'ERR_VERSION_EXISTS' });
      // The scope is alice's now, for plugins too.
      await expect(store.publishNpmVersion(npmVersion('3.0.0'), '@acme', bob)).rejects.toMatchObject({ code: 'ERR_FORBIDDEN' });
      await expect(store.publishVersion(versionRecord('@acme/plugin', '1.0.0'), '@acme', bob)).rejects.toMatchObject({ code: 'ERR_FORBIDDEN' });
      const npm = await store.getNpmPackage('@acme/sdk');
      expect(npm?.distTags).toEqual({ latest: '1.1.0', beta: '2.0.0-beta.1' });
      expect(npm?.versions.map((version) => version.version)).toEqual(['1.0.0', '2.0.0-beta.1', '1.1.0']);
      expect(npm?.versions[1]).toMatchObject({ integrity: 'sha512-2.0.0-beta.1', manifest: { name: '@acme/sdk', version: '2.0.0-beta.1' }, tag: 'beta' });
      // Plugins and npm packages are separate namespaces.
      expect(await store.getPlugin('@acme/sdk')).toBeUndefined();
    });

    it('publishes under another dist-tag without moving latest (npm publish --tag)', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('tagged', '1.0.0-rc.1'), 'tagged', alice, { tag: 'next' });
      // The first version becomes latest anyway: a plugin always has one.
      expect((await store.getPlugin('tagged'))?.distTags).toEqual({ latest: '1.0.0-rc.1', next: '1.0.0-rc.1' });
      await store.publishVersion(versionRecord('tagged', '1.0.0'), 'tagged', alice);
      await store.publishVersion(versionRecord('tagged', '2.0.0'), 'tagged', alice, { tag: 'beta' });
      const plugin = await store.getPlugin('tagged');
      expect(plugin?.distTags).toEqual({ latest: '1.0.0', next: '1.0.0-rc.1', beta: '2.0.0' });
      expect(plugin?.description).toBe('tagged at 1.0.0');
    });

    it('sets and deletes dist-tags; moving latest updates the listing', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('dt', '1.0.0'), 'dt', alice);
      await store.publishVersion(versionRecord('dt', '2.0.0'), 'dt', alice);
      await store.setDistTag('dt', 'beta', '2.0.0');
      await store.setDistTag('dt', 'latest', '1.0.0');
      const plugin = await store.getPlugin('dt');
      expect(plugin?.distTags).toEqual({ latest: '1.0.0', beta: '2.0.0' });
      expect(plugin?.description).toBe('dt at 1.0.0');
      expect(await store.deleteDistTag('dt', 'beta')).toBe(true);
      expect(await store.deleteDistTag('dt', 'beta')).toBe(false);
      expect((await store.getPlugin('dt'))?.distTags).toEqual({ latest: '1.0.0' });
      expect(await codeOf(store.setDistTag('missing', 'beta', '1.0.0'))).toBe('ERR_PLUGIN_NOT_FOUND');
    });

    it('deprecates and un-deprecates a version', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('dep', '1.0.0'), 'dep', alice);
      expect(await store.setDeprecated('dep', '1.0.0', 'use 2.x')).toBe(true);
      expect((await store.getVersion('dep', '1.0.0'))?.deprecated).toBe('use 2.x');
      expect(await store.setDeprecated('dep', '1.0.0', undefined)).toBe(true);
      expect((await store.getVersion('dep', '1.0.0'))?.deprecated).toBeUndefined();
      expect(await store.setDeprecated('dep', '3.0.0', 'x')).toBe(false);
    });

    it('counts downloads per version and day and totals them in listPlugins', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('dl', '1.0.0'), 'dl', alice);
      await store.publishVersion(versionRecord('dl', '1.1.0'), 'dl', alice);
      await store.publishVersion(versionRecord('other', '1.0.0'), 'other', alice);
      await store.recordDownload('dl', '1.0.0', '2026-01-01');
      await store.recordDownload('dl', '1.0.0', '2026-01-02');
      await store.recordDownload('dl', '1.1.0', '2026-01-02');
      await store.recordDownload('dl', '1.1.0', '2026-01-02');
      expect(await store.getDownloads('dl')).toEqual({
        total: 4,
        versions: { '1.0.0': 2, '1.1.0': 2 },
        daily: [
          { day: '2026-01-01', count: 1 },
          { day: '2026-01-02', count: 3 },
        ],
      });
      expect(await store.getDownloads('other')).toEqual({ total: 0, versions: {}, daily: [] });
      const summaries = await store.listPlugins();
      expect(summaries.map(({ name, version, downloads }) => ({ name, version, downloads }))).toEqual([
        { name: 'dl', version: '1.1.0', downloads: 4 },
        { name: 'other', version: '1.0.0', downloads: 0 },
      ]);
    });

    it('adds batches of download counts (recordDownloads), merging with single ones', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('batch', '1.0.0'), 'batch', alice);
      await store.recordDownloads([]);
      await store.recordDownload('batch', '1.0.0', '2026-01-01');
      await store.recordDownloads([
        { name: 'batch', version: '1.0.0', day: '2026-01-01', count: 4 },
        { name: 'batch', version: '1.0.0', day: '2026-01-02', count: 2 },
      ]);
      expect(await store.getDownloads('batch')).toEqual({
        total: 7,
        versions: { '1.0.0': 7 },
        daily: [
          { day: '2026-01-01', count: 5 },
          { day: '2026-01-02', count: 2 },
        ],
      });
    });

    it('lists version strings in publish order (listVersionNumbers)', async () => {
      const store = await fresh();
      for (const version of ['1.0.0', '2.0.0', '1.5.0']) await store.publishVersion(versionRecord('nums', version), 'nums', alice);
      expect(await store.listVersionNumbers('nums')).toEqual(['1.0.0', '2.0.0', '1.5.0']);
      expect(await store.listVersionNumbers('none')).toEqual([]);
    });

    it('moves a plugin revision on every change its document shows, and never on downloads', async () => {
      const store = await fresh();
      expect(await store.getPluginRevision('rev')).toBeUndefined();
      await store.publishVersion(versionRecord('@rs/rev', '1.0.0'), '@rs', alice);
      await store.publishVersion(versionRecord('@rs/sibling', '1.0.0'), '@rs', alice);
      const seen: number[] = [];
      const revision = async (name = '@rs/rev'): Promise<number> => {
        const value = await store.getPluginRevision(name);
        expect(value).toEqual(expect.any(Number));
        return value as number;
      };
      const expectMoved = async (what: string) => {
        const value = await revision();
        expect({ what, moved: !seen.includes(value) }).toEqual({ what, moved: true });
        seen.push(value);
      };
      seen.push(await revision());
      await store.publishVersion(versionRecord('@rs/rev', '1.1.0'), '@rs', alice);
      await expectMoved('publish');
      await store.setDistTag('@rs/rev', 'beta', '1.0.0');
      await expectMoved('set dist-tag');
      await store.deleteDistTag('@rs/rev', 'beta');
      await expectMoved('delete dist-tag');
      await store.setDeprecated('@rs/rev', '1.0.0', 'old');
      await expectMoved('deprecate');
      await store.setDeprecated('@rs/rev', '1.0.0', undefined);
      await expectMoved('un-deprecate');
      const sibling = await revision('@rs/sibling');
      await store.addMaintainer('@rs', 'bob');
      await expectMoved('add maintainer');
      expect(await revision('@rs/sibling')).not.toBe(sibling); // the whole scope's documents list maintainers
      await store.removeMaintainer('@rs', 'bob');
      await expectMoved('remove maintainer');
      const before = await revision();
      await store.recordDownload('@rs/rev', '1.0.0', '2026-01-01');
      await store.recordDownloads([{ name: '@rs/rev', version: '1.1.0', day: '2026-01-01', count: 3 }]);
      expect(await revision()).toBe(before);
      // A failed change moves nothing.
      expect(await store.setDeprecated('@rs/rev', '9.9.9', 'x')).toBe(false);
      expect(await store.removeMaintainer('@rs', 'nobody')).toBe(false);
      expect(await revision()).toBe(before);
    });

    it('lets exactly one of five concurrent publishes of one version win, and keeps the winner\'s bytes', async () => {
      const store = await fresh();
      const records = [0, 1, 2, 3, 4].map(() => versionRecord('race5', '1.0.0'));
      const results = await Promise.allSettled(records.map((record) => store.publishVersion(record, 'race5', alice)));
      const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [records[index]!] : []));
      expect(winners).toHaveLength(1);
      for (const result of results) if (result.status === 'rejected') expect((result.reason as PluglineError).code).toBe('ERR_VERSION_EXISTS');
      expect((await store.getVersion('race5', '1.0.0'))?.integrity).toBe(winners[0]!.integrity);
      expect(await store.getMaintainers('race5')).toEqual(['alice']);
      expect((await store.getPlugin('race5'))?.distTags).toEqual({ latest: '1.0.0' });
    });

    it('never pairs a revision with data older than it under concurrent writes (what the read cache relies on)', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('busy', '1.0.0'), 'busy', alice);
      // A reader caches like the app does: revision FIRST, then the data, reused while the revision holds.
      const snapshots = new Map<number, string>();
      const snapshot = async (): Promise<string> => {
        const [plugin, versions] = await Promise.all([store.getPlugin('busy'), store.listVersions('busy', { readme: false })]);
        const maintainers = await store.getMaintainers('busy');
        return JSON.stringify({ distTags: plugin?.distTags, versions: versions.map((v) => [v.version, v.deprecated ?? null]), maintainers });
      };
      let writing = true;
      const reader = (async () => {
        while (writing) {
          const revision = await store.getPluginRevision('busy');
          const data = await snapshot();
          if (revision !== undefined && !snapshots.has(revision)) snapshots.set(revision, data);
        }
      })();
      const versions = ['1.1.0', '1.2.0', '2.0.0', '1.3.0', '2.1.0', '0.9.0'];
      await Promise.all([
        ...versions.map((version) => store.publishVersion(versionRecord('busy', version), 'busy', alice)),
        store.setDistTag('busy', 'beta', '1.0.0'),
        store.setDeprecated('busy', '1.0.0', 'old'),
        store.addMaintainer('busy', 'bob'),
        store.addMaintainer('busy', 'carol'),
      ]);
      writing = false;
      await reader;
      const final = await snapshot();
      const revision = await store.getPluginRevision('busy');
      // Whatever a reader cached under the final revision must be the final data (else it is served stale forever).
      if (revision !== undefined && snapshots.has(revision)) expect(snapshots.get(revision)).toBe(final);
      const plugin = await store.getPlugin('busy');
      expect(plugin?.distTags).toEqual({ latest: '2.1.0', beta: '1.0.0' });
      expect(plugin?.description).toBe('busy at 2.1.0');
      expect((await store.listVersionNumbers('busy')).sort()).toEqual(['0.9.0', '1.0.0', ...versions.filter((v) => v !== '0.9.0')].sort());
      expect((await store.getMaintainers('busy')).sort()).toEqual(['alice', 'bob', 'carol']);
      expect((await store.getVersion('busy', '1.0.0'))?.deprecated).toBe('old');
    });

    it('counts concurrent download batches without losing any', async () => {
      const store = await fresh();
      await store.publishVersion(versionRecord('counted', '1.0.0'), 'counted', alice);
      await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          index % 2
            ? store.recordDownloads([{ name: 'counted', version: '1.0.0', day: '2026-03-01', count: 3 }])
            : store.recordDownload('counted', '1.0.0', '2026-03-01'),
        ),
      );
      expect(await store.getDownloads('counted')).toEqual({ total: 20, versions: { '1.0.0': 20 }, daily: [{ day: '2026-03-01', count: 20 }] });
    });

    it('stores tokens by hash and revokes them once', async () => {
      const store = await fresh();
      const createdAt = new Date().toISOString();
      await store.createToken({ id: 't1', hash: 'h1', user: 'alice', scopes: ['publish'], name: 'ci', createdAt, createdBy: 'admin' });
      expect(await store.findTokenByHash('h1')).toEqual({ id: 't1', hash: 'h1', user: 'alice', scopes: ['publish'], name: 'ci', createdAt, createdBy: 'admin' });
      expect(await store.findTokenByHash('nope')).toBeUndefined();
      expect(await store.revokeToken('t1', createdAt)).toBe(true);
      expect(await store.revokeToken('t1', createdAt)).toBe(false);
      expect((await store.getToken('t1'))?.revokedAt).toBe(createdAt);
      expect(await store.revokeToken('missing', createdAt)).toBe(false);
      await store.createToken({ id: 't2', hash: 'h2', user: 'bob', scopes: ['read'], createdAt, createdBy: 'admin' });
      expect((await store.listTokens()).map((token) => [token.id, token.user, token.revokedAt !== undefined])).toEqual([
        ['t1', 'alice', true],
        ['t2', 'bob', false],
      ]);
      expect((await store.listTokens('bob')).map((token) => token.id)).toEqual(['t2']);
    });

    it('keeps everything across a reopen (restart)', async () => {
      const handle = await open();
      handles.push(handle);
      await handle.store.publishVersion(versionRecord('keep', '1.0.0'), 'keep', alice);
      await handle.store.setDistTag('keep', 'stable', '1.0.0');
      await handle.store.recordDownload('keep', '1.0.0', '2026-02-03');
      await handle.store.createToken({ id: 'k', hash: 'hk', user: 'alice', scopes: ['read'], createdAt: 'now', createdBy: 'admin' });
      await handle.store.close();
      const reopened = await handle.reopen();
      expect((await reopened.getPlugin('keep'))?.distTags).toEqual({ latest: '1.0.0', stable: '1.0.0' });
      expect((await reopened.getDownloads('keep')).total).toBe(1);
      expect((await reopened.findTokenByHash('hk'))?.user).toBe('alice');
      expect(await reopened.getMaintainers('keep')).toEqual(['alice']);
    });
  });
}

metadataStoreConformance('sqlite (embedded)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-store-'));
  let current: MetadataStore = new SqliteMetadataStore(dir);
  return {
    store: current,
    async reopen() {
      current = new SqliteMetadataStore(dir);
      return current;
    },
    async dispose() {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// The MongoDB engine runs on MONGODB_URI: FerretDB from scripts/ferretdb.sh in CI, or a MongoDB server.
// Without one, every test of this block is skipped with the reason (never silently).
describe('MongoDB engine', () => {
  skipWithoutMongo();
  metadataStoreConformance('mongodb', async () => {
    const dataset = mongoDataset();
    const client = new MongoClient(dataset.uri);
    await client.connect();
    let current = await MongoMetadataStore.fromDb(client.db());
    return {
      store: current,
      async reopen() {
        current = await MongoMetadataStore.fromDb(client.db());
        return current;
      },
      async dispose() {
        await client.close();
        await dataset.drop();
      },
    };
  });
});

describe('SqliteMetadataStore specifics', () => {
  it('adds the revision column to a data folder made before it existed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugline-store-'));
    try {
      const { DatabaseSync } = await import('node:sqlite');
      const old = new DatabaseSync(join(dir, 'registry.db'));
      old.exec(`CREATE TABLE plugins (name TEXT PRIMARY KEY, owner_key TEXT NOT NULL, description TEXT, keywords TEXT NOT NULL DEFAULT '[]',
        dist_tags TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, modified_at TEXT NOT NULL);
        INSERT INTO plugins VALUES ('legacy', 'legacy', NULL, '[]', '{"latest":"1.0.0"}', 'then', 'then');`);
      old.close();
      const store = new SqliteMetadataStore(dir);
      try {
        expect(await store.getPluginRevision('legacy')).toBe(1);
        await store.setDistTag('legacy', 'next', '1.0.0');
        expect(await store.getPluginRevision('legacy')).toBe(2);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rolls back a publish that fails inside its transaction (no plugin, no owner claim)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugline-store-'));
    const store = new SqliteMetadataStore(dir);
    try {
      // A manifest JSON.stringify cannot serialize makes the insert fail after the owner claim ran.
      const record = versionRecord('boom', '1.0.0');
      (record.manifest as unknown as { big: bigint }).big = 1n;
      await expect(store.publishVersion(record, 'boom', alice)).rejects.toThrow();
      expect(await store.getMaintainers('boom')).toEqual([]);
      expect(await store.getPlugin('boom')).toBeUndefined();
      expect(await store.listVersions('boom')).toEqual([]);
      await store.publishVersion(versionRecord('boom', '1.0.0'), 'boom', bob);
      expect(await store.getMaintainers('boom')).toEqual(['bob']);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
