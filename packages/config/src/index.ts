export {
  ConfigError,
  configProblemLine,
  describeSettings,
  readConfig,
  effectiveSettings,
  pickSettings,
  integerSetting,
  optionalIntegerSetting,
  stringSetting,
  optionalStringSetting,
  listSetting,
  booleanSetting,
  unknownSettings,
  closestName,
} from './env.ts';
export type { ConfigProblem, EnvShape, ConfigOf, SettingMeta, UnknownSetting } from './env.ts';
export { repoRoot, dataDir, exampleDagsFolder, SHARED_SETTINGS } from './paths.ts';
export { onShutdown, startUntilStopped } from './shutdown.ts';
export type { ShutdownLogger, ShutdownOptions } from './shutdown.ts';
export { applyGcHeadroom, gcHeadroomSetting, DEFAULT_GC_HEADROOM_PERCENT } from './heap.ts';
