export {
  ConfigError,
  describeSettings,
  readConfig,
  integerSetting,
  stringSetting,
  optionalStringSetting,
  listSetting,
  booleanSetting,
} from './env.ts';
export type { EnvShape, ConfigOf, SettingMeta } from './env.ts';
export { repoRoot, dataDir } from './paths.ts';
export { applyGcHeadroom, gcHeadroomSetting, DEFAULT_GC_HEADROOM_PERCENT } from './heap.ts';
