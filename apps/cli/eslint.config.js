import baseConfig from '@dagbag/eslint-config/base';

export default baseConfig;
