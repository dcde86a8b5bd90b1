import {
  ConfigError,
  SHARED_SETTINGS,
  describeSettings,
  gcHeadroomSetting,
  integerSetting,
  listSetting,
  optionalStringSetting,
  readConfig,
  stringSetting,
  type ConfigOf,
} from '@dagbag/config';
import { cacheSettingsShape } from '@dagbag/dagbag';
// The settings module only: importing @dagbag/db itself would load pg before telemetry patches it.
import { DATABASE_SETTINGS } from '@dagbag/db/settings';
import { LOGGER_SETTINGS } from '@dagbag/logger';
import { telemetrySettings } from '@dagbag/telemetry';
import { parseTokenEntries, weakTokenProblem } from './tokens.ts';

// This module is imported by main.ts before telemetry starts: it must import setting shapes only
// (importing the body reader or the server would load express and, through errors.ts, pg and
// Prisma unpatched: no Express or PostgreSQL spans). The defaults those modules use live here.

/**
 * Default and bounds of API_BODY_MAX_DEPTH: deep enough for any real `conf`, shallow enough to
 * walk.
 */
export const DEFAULT_BODY_MAX_DEPTH = 32;
export const MAX_BODY_MAX_DEPTH = 256;
/** Defaults of API_HEADERS_TIMEOUT_MS and API_REQUEST_TIMEOUT_MS. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/**
 * The API's own variables. With the DAG cache's (`API_DAG_CACHE_*`), the database's, the
 * telemetry's and DATA_DIR they make API_SETTINGS, read and validated once in `main`.
 */
export const API_OWN_SETTINGS = {
  API_HOST: stringSetting({
    default: '127.0.0.1',
    pattern: /^[\w.:-]+$/,
    accepted: 'a host name or IP address',
    description: 'interface the REST API listens on',
  }),
  API_PORT: integerSetting({
    default: 8080,
    min: 0,
    max: 65535,
    meaning: '0 = any free port',
    description: 'port of the REST API',
  }),
  API_AUTH_TOKENS: listSetting({
    description:
      'bearer tokens the REST API accepts, each of at least 16 characters; an entry `name:token` names its caller in the event log and in the `triggering_user_name` of the runs it triggers (others are named by a fingerprint, `token:` + 12 hex digits); unset: one is generated into DATA_DIR/api-token (mode 0600) and logged at start',
    secret: true,
  }),
  API_BODY_LIMIT_BYTES: integerSetting({
    default: 1_048_576,
    min: 1024,
    max: 104_857_600,
    description: 'largest accepted request body; larger gets 413',
  }),
  API_BODY_MAX_DEPTH: integerSetting({
    default: DEFAULT_BODY_MAX_DEPTH,
    min: 1,
    max: MAX_BODY_MAX_DEPTH,
    description:
      "deepest nesting of objects and arrays accepted in a JSON body (a run's `conf` included); deeper gets 422",
  }),
  API_HEADERS_TIMEOUT_MS: integerSetting({
    default: DEFAULT_HEADERS_TIMEOUT_MS,
    min: 1000,
    max: 600_000,
    description:
      'a client must send the whole request line and headers within this time; slower connections are cut (408)',
  }),
  API_REQUEST_TIMEOUT_MS: integerSetting({
    default: DEFAULT_REQUEST_TIMEOUT_MS,
    min: 1000,
    max: 3_600_000,
    description:
      'a client must send the whole request, body included, within this time; slower connections are cut (408)',
  }),
  API_SHUTDOWN_TIMEOUT_MS: integerSetting({
    default: 10_000,
    min: 0,
    max: 600_000,
    description:
      'on SIGTERM, how long in-flight requests may finish before their connections are cut',
  }),
  API_LISTING_CACHE_MAX_BYTES: integerSetting({
    default: 8_388_608,
    min: 0,
    max: 1_073_741_824,
    meaning: '0 = off',
    description:
      "bytes of `GET /dags` answers kept in memory (least recently used go first). Every change of a DAG or an import error, by any process, empties it: this API's own writes before they answer, others' by database notification within milliseconds. Used only while notifications are received (DATABASE_NOTIFICATIONS=on and the listener connected); listings filtered or ordered by dag runs are never kept",
  }),
  API_GC_HEADROOM_PERCENT: gcHeadroomSetting(),
  GIT_COMMIT: optionalStringSetting({
    description: 'reported as `git_version` by `GET /api/v2/version`; unset: null',
  }),
};

/** Every variable the API process reads. */
export const API_SETTINGS = {
  ...API_OWN_SETTINGS,
  ...cacheSettingsShape('api'),
  ...DATABASE_SETTINGS,
  ...telemetrySettings('dagbag-api'),
  ...SHARED_SETTINGS,
  ...LOGGER_SETTINGS,
};

/**
 * One row per API variable (name, default, accepted range, meaning): the README table is checked
 * against it.
 */
export const API_SETTING_DESCRIPTORS = describeSettings(API_OWN_SETTINGS);

export type ApiConfig = ConfigOf<typeof API_SETTINGS>;

/** Reads and validates every API variable once; throws ConfigError naming each bad one. */
export function readApiConfig(env: Record<string, string | undefined>): ApiConfig {
  const config = readConfig(API_SETTINGS, env);
  const weak = parseTokenEntries(config.API_AUTH_TOKENS).flatMap((entry, index) => {
    const problem = weakTokenProblem(entry, index + 1);
    return problem === undefined ? [] : [{ variable: 'API_AUTH_TOKENS', message: problem }];
  });
  if (weak.length > 0) throw new ConfigError(weak);
  // Node refuses a headers timeout longer than the request timeout: say so before it starts.
  if (config.API_HEADERS_TIMEOUT_MS > config.API_REQUEST_TIMEOUT_MS) {
    throw new ConfigError([
      {
        variable: 'API_HEADERS_TIMEOUT_MS',
        message: `must not exceed API_REQUEST_TIMEOUT_MS (${config.API_REQUEST_TIMEOUT_MS}); got ${config.API_HEADERS_TIMEOUT_MS}`,
      },
    ]);
  }
  return config;
}

/** The settings `createApp` needs; tests pass these directly. */
export interface AppConfig {
  /** Accepted bearer tokens; at least one. */
  authTokens: readonly string[];
  bodyLimitBytes: number;
  /** Deepest nesting accepted in a JSON body (API_BODY_MAX_DEPTH). */
  bodyMaxDepth: number;
  /** `git_version` of `GET /api/v2/version`; null when unknown. */
  gitVersion?: string | null;
}
