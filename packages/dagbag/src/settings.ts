import { integerSetting, readConfig } from '@dagbag/config';

export type CacheRole = 'api' | 'scheduler';

/** What a DagBag is bounded by. Every limit uses 0 for "off". */
export interface DagCacheSettings {
  /** Max resident versions; 0 = no entry cap. */
  maxEntries: number;
  /** Max total entry weight in bytes (approximate retained heap); 0 = no byte cap. */
  maxBytes: number;
  /** Seconds since last use before an entry expires; 0 = no TTL. */
  ttlSeconds: number;
  /** Hash revalidation interval in seconds; 0 = never revalidate. */
  revalidateSeconds: number;
  /** How long an unknown version id is remembered as unknown; 0 = not at all. */
  negativeTtlSeconds: number;
  /** How many unknown ids are remembered at most (the negative cache is bounded too). */
  maxNegativeEntries: number;
}

export interface CacheSettingDescriptor {
  readonly variable: string;
  readonly setting: keyof DagCacheSettings;
  readonly role: CacheRole | 'both';
  readonly apiDefault: number;
  readonly schedulerDefault: number;
  readonly min: number;
  readonly max: number;
  readonly meaning: string;
}

const GiB = 1024 ** 3;
const DAY = 86_400;

/** Sane maxima: past these a value is a typo (a unit mistake), not a decision. */
export const SETTING_RANGES = {
  maxEntries: { min: 0, max: 10_000_000 },
  maxBytes: { min: 0, max: 64 * GiB },
  ttlSeconds: { min: 0, max: 30 * DAY },
  revalidateSeconds: { min: 0, max: DAY },
  negativeTtlSeconds: { min: 0, max: 3_600 },
  maxNegativeEntries: { min: 1, max: 10_000_000 },
} as const satisfies Record<keyof DagCacheSettings, { min: number; max: number }>;

/**
 * Every environment variable of the cache, with both roles' defaults: the root README's table is
 * checked against this list, so the documentation cannot drift from the code.
 */
export const CACHE_SETTINGS: readonly CacheSettingDescriptor[] = [
  {
    variable: 'API_DAG_CACHE_SIZE',
    setting: 'maxEntries',
    role: 'api',
    apiDefault: 4096,
    schedulerDefault: 0,
    ...SETTING_RANGES.maxEntries,
    meaning: 'max entries; 0 = no entry cap',
  },
  {
    variable: 'SCHEDULER_DAG_CACHE_SIZE',
    setting: 'maxEntries',
    role: 'scheduler',
    apiDefault: 4096,
    schedulerDefault: 0,
    ...SETTING_RANGES.maxEntries,
    meaning: 'max entries; 0 = no entry cap',
  },
  {
    variable: 'API_DAG_CACHE_MAX_BYTES',
    setting: 'maxBytes',
    role: 'api',
    apiDefault: 268_435_456,
    schedulerDefault: 1_073_741_824,
    ...SETTING_RANGES.maxBytes,
    meaning: 'max total entry weight in bytes; 0 = no byte cap',
  },
  {
    variable: 'SCHEDULER_DAG_CACHE_MAX_BYTES',
    setting: 'maxBytes',
    role: 'scheduler',
    apiDefault: 268_435_456,
    schedulerDefault: 1_073_741_824,
    ...SETTING_RANGES.maxBytes,
    meaning: 'max total entry weight in bytes; 0 = no byte cap',
  },
  {
    variable: 'API_DAG_CACHE_TTL',
    setting: 'ttlSeconds',
    role: 'api',
    apiDefault: 3600,
    schedulerDefault: 10_800,
    ...SETTING_RANGES.ttlSeconds,
    meaning: 'seconds since last use; 0 = no TTL',
  },
  {
    variable: 'SCHEDULER_DAG_CACHE_TTL',
    setting: 'ttlSeconds',
    role: 'scheduler',
    apiDefault: 3600,
    schedulerDefault: 10_800,
    ...SETTING_RANGES.ttlSeconds,
    meaning: 'seconds since last use; 0 = no TTL',
  },
  {
    variable: 'DAG_CACHE_REVALIDATE_SECONDS',
    setting: 'revalidateSeconds',
    role: 'both',
    apiDefault: 30,
    schedulerDefault: 30,
    ...SETTING_RANGES.revalidateSeconds,
    meaning: 'hash revalidation interval; 0 = never revalidate',
  },
];

/** Defaults of the settings that are not read from the environment. */
const FIXED_DEFAULTS = { negativeTtlSeconds: 5, maxNegativeEntries: 10_000 } as const;

function defaultFor(descriptor: CacheSettingDescriptor, role: CacheRole): number {
  return role === 'api' ? descriptor.apiDefault : descriptor.schedulerDefault;
}

/** The documented defaults of a role, ignoring the environment. */
export function defaultCacheSettings(role: CacheRole): DagCacheSettings {
  const settings: Partial<DagCacheSettings> = { ...FIXED_DEFAULTS };
  for (const d of CACHE_SETTINGS)
    if (d.role === role || d.role === 'both') settings[d.setting] = defaultFor(d, role);
  return settings as DagCacheSettings;
}

/**
 * Reads the role's variables. A bad value throws ConfigError naming the variable, the accepted
 * range and what was given, so the process stops at start rather than running unbounded.
 */
export function cacheSettingsFromEnv(
  role: CacheRole,
  env: Record<string, string | undefined> = process.env,
): DagCacheSettings {
  const mine = CACHE_SETTINGS.filter((d) => d.role === role || d.role === 'both');
  const shape = Object.fromEntries(
    mine.map((d) => [
      d.variable,
      integerSetting({ default: defaultFor(d, role), min: d.min, max: d.max, meaning: d.meaning }),
    ]),
  );
  const values = readConfig(shape, env);
  const settings: DagCacheSettings = { ...defaultCacheSettings(role) };
  for (const d of mine) settings[d.setting] = values[d.variable] as number;
  return settings;
}

/**
 * Checks constructor settings like lru-cache checks its options: a TypeError naming the option
 * and the accepted range.
 */
export function validateCacheSettings(settings: DagCacheSettings): DagCacheSettings {
  for (const key of Object.keys(SETTING_RANGES) as (keyof DagCacheSettings)[]) {
    const value = settings[key];
    const { min, max } = SETTING_RANGES[key];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new TypeError(
        `DagBag settings.${key} must be a whole number from ${min} to ${max}; got ${String(value)}`,
      );
    }
  }
  return settings;
}
