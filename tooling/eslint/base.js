// Shared ESLint configuration (flat config), as a workspace package like create-t3-turbo's; the
// root eslint.config.js spreads it and `pnpm lint` runs once over the repository (one process, so
// each source file is type-checked once). Type-aware: typescript-eslint builds one TypeScript
// program from the root's tsconfig.eslint.json, which covers every package (see there).
// typescript-eslint needs TypeScript's JavaScript API, which TypeScript 7 (what `tsc` is here)
// no longer has: this package brings TypeScript 5 for the linter only (catalog `typescript5`).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** What test code may do that library code may not (see below); whole test packages use it too. */
export const testRules = {
  '@typescript-eslint/no-explicit-any': 'off',
  '@typescript-eslint/no-unsafe-argument': 'off',
  '@typescript-eslint/no-unsafe-assignment': 'off',
  '@typescript-eslint/no-unsafe-call': 'off',
  '@typescript-eslint/no-unsafe-member-access': 'off',
  '@typescript-eslint/no-unsafe-return': 'off',
  '@typescript-eslint/require-await': 'off',
};

export default defineConfig(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/generated/**',
      '**/.data/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
      // Tool configuration outside the packages' tsconfig.json.
      '**/vitest.config.ts',
      '**/prisma.config.ts',
    ],
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        project: './tsconfig.eslint.json',
        tsconfigRootDir: process.cwd(),
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // A variable that a closure reads before its one assignment (a late-bound dependency).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Library code logs through @dagbag/logger.
      'no-console': 'error',
      // Prettier's printWidth (tooling/prettier), which Prettier does not apply to comments.
      // Strings, template literals (SQL) and regular expressions stay on one line on purpose.
      // Deprecated in ESLint core but kept until v11; @stylistic/max-len is its successor.
      'max-len': [
        'error',
        {
          code: 100,
          tabWidth: 2,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreRegExpLiterals: true,
          ignoreUrls: true,
        },
      ],
    },
  },
  {
    // Tests, their helpers and benchmarks read free-form JSON (response bodies, fixtures) whose
    // shape the assertions check, and stub async interfaces with functions that need no await.
    files: ['**/*.test.ts', '**/testing/**', '**/bench/**'],
    rules: testRules,
  },
  {
    // Command-line programs print their results.
    files: ['**/bench/**', 'scripts/**', 'src/migrate/cli.ts'],
    rules: { 'no-console': 'off' },
  },
);
