// The whole HTTP API suite (registry.test.ts: publish, resolve, tarballs, dist-tags, deprecations,
// ownership, search, tokens, private reads...) once more, on the MongoDB engine with GridFS blobs
// (MONGODB_URI: FerretDB in CI), in a database of its own that is dropped at the end.
import { afterAll, describe, it } from 'vitest';
import { mongoDataset, mongoSkipReason, skipWithoutMongo } from './engines.test-helpers.js';

if (mongoSkipReason) {
  describe('the HTTP API suite on the MongoDB engine', () => {
    skipWithoutMongo();
    it('runs registry.test.ts on MONGODB_URI', () => {});
  });
} else {
  const dataset = mongoDataset();
  (globalThis as { pluglineRegistryTestEngine?: unknown }).pluglineRegistryTestEngine = { mongoUri: dataset.uri, store: 'mongodb', blobs: 'gridfs' };
  await import('./registry.test.js');
  afterAll(() => dataset.drop());
}
