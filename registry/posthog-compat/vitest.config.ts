import { defineProject } from 'vitest/config';

export default defineProject({
  // A PostHog plugin's own suite (src/fixtures/scaffold-tested/index.test.ts) imports the scaffold's
  // test utilities: they resolve to Plugline's implementation, as a plugin repository would alias them.
  resolve: { alias: { '@posthog/plugin-scaffold/test/utils': '@plugline/sdk/posthog-testing' } },
  // Packs PostHog-format plugins with the CLI, publishes them to a real registry and runs them in the real runtime.
  test: { name: 'posthog-compat', include: ['src/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
});
