import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'plugin-hello-world', include: ['src/**/*.test.ts'] },
});
