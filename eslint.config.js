// One ESLint run for the whole repository (`pnpm lint`): one process, so typescript-eslint's
// project service parses and type-checks each source file once, where a run per package checked
// every workspace dependency again in each of its dependents (about twice the CPU in all). Two
// linting threads (`--concurrency=2` in package.json) share the files: on 2 idle cores 25-27 s
// against 30-34 s for one, for about the same CPU.
// Each file is still checked against the tsconfig.json of its own package.
import baseConfig, { testRules } from '@dagbag/eslint-config/base';

export default [
  // Tooling configures the rest; the client's schema.ts is generated (`pnpm client:generate`).
  { ignores: ['tooling/**', 'packages/client/src/schema.ts'] },
  ...baseConfig,
  // The reliability suite is test code throughout, and reports its figures on the console.
  { files: ['tests/**/*.ts'], rules: { ...testRules, 'no-console': 'off' } },
];
