import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-geoip', include: ['src/**/*.test.ts'] },
});
