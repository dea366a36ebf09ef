import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-postgres-export', include: ['src/**/*.test.ts'] },
});
