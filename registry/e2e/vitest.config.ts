import { defineProject } from 'vitest/config';

export default defineProject({
  // Starts a registry, an S3-compatible server and the runtime with five sandboxed plugins.
  test: { name: 'plugin-e2e', include: ['src/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
});
