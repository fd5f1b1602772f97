import { defineConfig } from 'vitest/config';

// FAT stores local time without a zone; the fixtures were written in UTC.
process.env.TZ = 'UTC';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { TZ: 'UTC' },
    pool: 'forks',
  },
});
