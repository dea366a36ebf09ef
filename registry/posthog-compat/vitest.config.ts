import { defineProject } from 'vitest/config';

export default defineProject({
  // Packs PostHog-format plugins with the CLI, publishes them to a real registry and runs them in the real runtime.
  test: { name: 'posthog-compat', include: ['src/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
});
