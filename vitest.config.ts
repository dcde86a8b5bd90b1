// Tests of the top-level pieces (seed, dev orchestration, docs checks); packages have their own.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'prisma/**/*.test.ts',
      'scripts/**/*.test.ts',
      'docs/**/*.test.ts',
      'ops/**/*.test.ts',
    ],
    globalSetup: ['@dagbag/db/testing/global-setup'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
