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
    // Every scenario starts and stops whole processes. Inside the test command (three suites at
    // once on 2 cores) a process start takes up to 20 times longer than alone, and scenarios on
    // the default timeout took up to 35 s there: 60 s left little margin for a slower host. A
    // hang is still caught.
    testTimeout: full ? 1_800_000 : 180_000,
    hookTimeout: full ? 300_000 : 180_000,
  },
});
