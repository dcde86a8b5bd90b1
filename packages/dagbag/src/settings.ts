import { integerSetting } from '@dagbag/config';

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

/** The documented defaults of each role (README, DAG cache; docs/architecture.md, The cache). */
const ROLE_DEFAULTS: Record<CacheRole, DagCacheSettings> = {
  api: {
    maxEntries: 4096,
    maxBytes: 268_435_456,
    ttlSeconds: 3600,
    revalidateSeconds: 30,
    negativeTtlSeconds: 5,
    maxNegativeEntries: 10_000,
  },
  scheduler: {
    maxEntries: 0,
    maxBytes: 1_073_741_824,
    ttlSeconds: 10_800,
    revalidateSeconds: 30,
    negativeTtlSeconds: 5,
    maxNegativeEntries: 10_000,
  },
};

/** The environment variable of each setting an operator may change, per role. */
export const CACHE_VARIABLES = {
  maxEntries: { api: 'API_DAG_CACHE_SIZE', scheduler: 'SCHEDULER_DAG_CACHE_SIZE' },
  maxBytes: { api: 'API_DAG_CACHE_MAX_BYTES', scheduler: 'SCHEDULER_DAG_CACHE_MAX_BYTES' },
  ttlSeconds: { api: 'API_DAG_CACHE_TTL', scheduler: 'SCHEDULER_DAG_CACHE_TTL' },
  revalidateSeconds: {
    api: 'DAG_CACHE_REVALIDATE_SECONDS',
    scheduler: 'DAG_CACHE_REVALIDATE_SECONDS',
  },
} as const;

export type CacheVariableSetting = keyof typeof CACHE_VARIABLES;
export type CacheVariable<R extends CacheRole> = (typeof CACHE_VARIABLES)[CacheVariableSetting][R];

/** What each variable means, for the README table. */
export const CACHE_VARIABLE_MEANINGS: Record<CacheVariableSetting, string> = {
  maxEntries: 'max entries; 0 = no entry cap',
  maxBytes: 'max total entry weight in bytes; 0 = no byte cap',
  ttlSeconds: 'seconds since last use; 0 = no TTL',
  revalidateSeconds: 'hash revalidation interval; 0 = never revalidate',
};

/** The documented defaults of a role, ignoring the environment. */
export function defaultCacheSettings(role: CacheRole): DagCacheSettings {
  return { ...ROLE_DEFAULTS[role] };
}

/**
 * The role's cache variables in `@dagbag/config` style: an app spreads this into its settings
 * shape, so they are read and range-checked once with all its others (a bad value is a
 * ConfigError naming the variable and the range), then passes `cacheSettingsFrom(role, values)`
 * to its DagBag.
 */
export function cacheSettingsShape<R extends CacheRole>(
  role: R,
): Record<CacheVariable<R>, ReturnType<typeof integerSetting>> {
  const shape: Record<string, ReturnType<typeof integerSetting>> = {};
  for (const setting of Object.keys(CACHE_VARIABLES) as CacheVariableSetting[]) {
    shape[CACHE_VARIABLES[setting][role]] = integerSetting({
      default: ROLE_DEFAULTS[role][setting],
      ...SETTING_RANGES[setting],
      description: CACHE_VARIABLE_MEANINGS[setting],
    });
  }
  return shape;
}

/**
 * The DagBag settings of a role from the values `readConfig` gave for `cacheSettingsShape(role)`.
 */
export function cacheSettingsFrom<R extends CacheRole>(
  role: R,
  values: Record<CacheVariable<R>, number>,
): DagCacheSettings {
  const settings = defaultCacheSettings(role);
  for (const setting of Object.keys(CACHE_VARIABLES) as CacheVariableSetting[])
    settings[setting] = values[CACHE_VARIABLES[setting][role] as CacheVariable<R>];
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
