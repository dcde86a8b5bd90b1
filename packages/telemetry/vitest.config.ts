import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // These tests run real programs (prometheus, promtool, docker-compose, node children): under a
    // full parallel `pnpm test` docker-compose alone has taken 9 s on the 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
