import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-currency-normalizer', include: ['src/**/*.test.ts'] },
});
