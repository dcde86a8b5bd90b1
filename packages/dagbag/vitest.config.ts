import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // vitest's 5 s default is short for the CPU-bound replays when CI runs three packages at once.
    testTimeout: 30_000,
  },
});
