import { defineConfig } from 'vitest/config';

// FAT stores local time without a zone; the fixtures were written in UTC.
process.env.TZ = 'UTC';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Records every fixtures/*.img.gz sha256 before the run and fails it if one changed.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { TZ: 'UTC' },
    pool: 'forks',
  },
});
