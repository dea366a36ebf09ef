import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-property-filter', include: ['src/**/*.test.ts'] },
});
