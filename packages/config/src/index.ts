export { ConfigError, describeSettings, readConfig, integerSetting, stringSetting, optionalStringSetting, listSetting, booleanSetting } from './env.ts';
export type { EnvShape, ConfigOf, SettingMeta } from './env.ts';
export { repoRoot, dataDir } from './paths.ts';
