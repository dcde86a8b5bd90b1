import { defineConfig } from 'vitest/config';

const full = process.env.RELIABILITY_FULL === '1';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['@dagbag/db/testing/global-setup', './src/summary-setup.ts'],
    // Scenarios are whole clusters of processes: one file at a time in the full run keeps the
    // figures honest; the short run starts them all at once (mostly waiting on timeouts, not CPU)
    // so it costs the normal `pnpm test` the longest scenario, not their sum.
    fileParallelism: !full,
    maxWorkers: full ? 1 : 6,
    testTimeout: full ? 1_800_000 : 60_000,
    hookTimeout: full ? 300_000 : 60_000,
  },
});
