import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'runtime',
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Bundles src/sandbox/isolate/*.ts and src/console/client/*.ts first, so tests run them as they are in src.
    globalSetup: ['scripts/build-isolate.mjs', 'scripts/build-console.mjs'],
  },
});
