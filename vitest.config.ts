import { defineConfig } from 'vitest/config';

// One vitest run over every workspace project, so CI ends with one summary line.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'registry/*/vitest.config.ts'],
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
