import baseConfig from '@dagbag/eslint-config/base';

// src/schema.ts is generated from our OpenAPI document (pnpm --filter @dagbag/client generate).
export default [{ ignores: ['src/schema.ts'] }, ...baseConfig];
