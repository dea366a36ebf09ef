import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-s3-export', include: ['src/**/*.test.ts'] },
});
