import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'runtime',
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Bundles src/sandbox/isolate/*.ts first, so the sandbox tests run the isolate code as it is in src.
    globalSetup: ['scripts/build-isolate.mjs'],
  },
});
