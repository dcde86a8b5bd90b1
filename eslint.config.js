// The root's own TypeScript (scripts, the seed, docs and ops checks); every workspace package
// lints itself with its own eslint.config.js.
import baseConfig from '@dagbag/eslint-config/base';

export default [{ ignores: ['apps/**', 'packages/**', 'tests/**', 'tooling/**'] }, ...baseConfig];
