export { ConfigError, readConfig, integerSetting, stringSetting, optionalStringSetting, listSetting, booleanSetting } from './env.ts';
export type { EnvShape, ConfigOf } from './env.ts';
export { repoRoot, dataDir } from './paths.ts';
