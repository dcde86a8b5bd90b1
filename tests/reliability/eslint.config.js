// The reliability suite is test code throughout: its helpers follow the tests' rules.
import baseConfig, { testRules } from '@dagbag/eslint-config/base';

export default [
  ...baseConfig,
  { files: ['**/*.ts'], rules: { ...testRules, 'no-console': 'off' } },
];
