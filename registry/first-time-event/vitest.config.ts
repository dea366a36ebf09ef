import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-first-time-event', include: ['src/**/*.test.ts'] },
});
