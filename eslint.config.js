// One ESLint run for the whole repository (`pnpm lint`), over one TypeScript program
// (tsconfig.eslint.json): every package has the same compiler options (tsconfig.base.json), so one
// program types each file as its own package's tsconfig.json does. Through the project service,
// one program per package, each built the global types (lib, @types/node) again and typed the
// workspace packages it imports again: 74 s on one thread on this 2-core machine, against 33-41 s
// for one program; a second linting thread builds the program a second time (46 s, more CPU).
import baseConfig, { testRules } from '@dagbag/eslint-config/base';

export default [
  // Tooling configures the rest; the client's schema.ts is generated (`pnpm client:generate`).
  { ignores: ['tooling/**', 'packages/client/src/schema.ts'] },
  ...baseConfig,
  // The reliability suite is test code throughout, and reports its figures on the console.
  { files: ['tests/**/*.ts'], rules: { ...testRules, 'no-console': 'off' } },
];
