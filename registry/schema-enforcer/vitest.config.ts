import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-schema-enforcer', include: ['src/**/*.test.ts'] },
});
