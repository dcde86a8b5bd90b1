import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

/**
 * Configuration is read from the environment once, at start, and a bad value stops the process
 * with a message that names the variable, the accepted range and what was given.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${configProblemLine(p)}`).join('\n')}`);
    this.problems = problems;
  }
}

/** One bad variable: what is wrong with its value, and its default when it has one. */
export interface ConfigProblem {
  variable: string;
  message: string;
  default?: string;
}

/**
 * One line naming the variable, what it accepts, what it got and the fix:
 * `API_PORT: must be a whole number from 0 to 65535; got "x". Fix: set API_PORT to an accepted
 * value, or unset it for the default (8080).`
 */
export function configProblemLine(problem: ConfigProblem): string {
  const unset = problem.default ? `unset it for the default (${problem.default})` : 'unset it';
  return `${problem.variable}: ${problem.message}. Fix: set ${problem.variable} to an accepted value, or ${unset}.`;
}

export type EnvShape = Record<string, z.ZodType>;
export type ConfigOf<S extends EnvShape> = { [K in keyof S]: z.output<S[K]> };

type Env = Record<string, string | undefined>;

/**
 * Parses every variable of `shape` from `env` (an app's `main` passes `process.env`; libraries
 * never read it); throws one ConfigError listing all bad ones.
 */
export function readConfig<S extends EnvShape>(shape: S, env: Env): ConfigOf<S> {
  const problems: ConfigProblem[] = [];
  const result: Record<string, unknown> = {};
  for (const [variable, schema] of Object.entries(shape)) {
    const raw = env[variable];
    const parsed = schema.safeParse(raw === '' ? undefined : raw);
    const meta = schema.meta() as SettingMeta | undefined;
    if (parsed.success) {
      result[variable] = meta?.path ? resolvePath(parsed.data, env) : parsed.data;
      continue;
    }
    const fallback = meta?.default;
    problems.push({
      variable,
      message: parsed.error.issues[0]?.message ?? 'invalid value',
      ...(fallback ? { default: fallback } : {}),
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result as ConfigOf<S>;
}

/**
 * A relative path setting, made absolute against the folder the command was typed in: pnpm
 * starts a package's script in the package's folder (`pnpm --filter @dagbag/api start` runs in
 * apps/api) and says where it was started in INIT_CWD. Resolved against the process's own folder,
 * a relative DATA_DIR named a different folder for each app (the API never saw the scheduler's
 * task logs).
 */
function resolvePath(value: unknown, env: Env): unknown {
  if (typeof value !== 'string' || value === '' || isAbsolute(value)) return value;
  return resolve(env.INIT_CWD || process.cwd(), value);
}

/** A variable that looks like a setting but is none, and the setting it most likely meant. */
export interface UnknownSetting {
  variable: string;
  closest?: string;
}

/**
 * Variables of `env` that start like this app's settings (one of `prefixes`) but are none of
 * `shape`'s: a misspelt name (SCHEDULER_PARALELLISM) was ignored without a word and the default
 * ran instead. Each comes with the nearest setting's name when one is close.
 */
export function unknownSettings(
  shape: EnvShape,
  env: Env,
  prefixes: readonly string[],
): UnknownSetting[] {
  const known = Object.keys(shape);
  return Object.keys(env)
    .filter((name) => prefixes.some((prefix) => name.startsWith(prefix)) && !(name in shape))
    .sort()
    .map((variable) => {
      const closest = closestName(variable, known);
      return closest === undefined ? { variable } : { variable, closest };
    });
}

/**
 * The name of `known` a misspelt `name` most likely meant: the nearest by edit distance, within
 * max(2, a fifth of its length); undefined when none is that close. Settings and DAG file fields.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let closest: string | undefined;
  let best = Math.max(2, Math.floor(name.length / 5)) + 1;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < best) [closest, best] = [candidate, distance];
  }
  return closest;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * What the docs say about a setting: read back by `describeSettings`, checked against the README.
 */
export interface SettingMeta {
  default: string;
  accepted?: string;
  description?: string;
  /**
   * Kept out of logs by `effectiveSettings`: `true` hides the value (a list shows its length),
   * `'url-password'` hides only the password of a URL.
   */
  secret?: true | 'url-password';
  /** A file system path: `readConfig` makes a relative one absolute (see resolvePath). */
  path?: true;
}

/** One row per variable of a shape, for documentation and the README check. */
export function describeSettings(shape: EnvShape): ({ variable: string } & SettingMeta)[] {
  return Object.entries(shape).map(([variable, schema]) => ({
    variable,
    ...((schema.meta() as SettingMeta | undefined) ?? { default: '' }),
  }));
}

const REDACTED = '[redacted]';

function redact(value: unknown, secret: SettingMeta['secret']): unknown {
  if (value === undefined || !secret) return value;
  if (secret === 'url-password' && typeof value === 'string') {
    try {
      const url = new URL(value);
      if (url.password) url.password = REDACTED;
      return url.toString();
    } catch {
      return REDACTED;
    }
  }
  return Array.isArray(value) ? `${REDACTED} (${value.length})` : REDACTED;
}

/**
 * The values an app runs with, for its one start line: every variable of `shape` with secrets
 * redacted (tokens hidden, a URL's password hidden).
 */
export function effectiveSettings<S extends EnvShape>(
  shape: S,
  values: ConfigOf<S>,
): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [variable, schema] of Object.entries(shape)) {
    const meta = schema.meta() as SettingMeta | undefined;
    shown[variable] = redact((values as Record<string, unknown>)[variable], meta?.secret);
  }
  return shown;
}

/** The values of `shape`'s variables only, out of a wider config that holds them. */
export function pickSettings<S extends EnvShape>(shape: S, values: ConfigOf<S>): ConfigOf<S> {
  const picked: Record<string, unknown> = {};
  for (const variable of Object.keys(shape))
    picked[variable] = (values as Record<string, unknown>)[variable];
  return picked as ConfigOf<S>;
}

/** A whole number within [min, max]; the error text states the range and the value received. */
export function integerSetting(options: {
  default: number;
  min: number;
  max: number;
  meaning?: string;
  description?: string;
}) {
  const { min, max } = options;
  const range = `a whole number from ${min} to ${max}${options.meaning ? ` (${options.meaning})` : ''}`;
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return options.default;
      const trimmed = raw.trim();
      const value = /^-?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `must be ${range}; got ${JSON.stringify(raw)}` });
        return z.NEVER;
      }
      return value;
    })
    .meta({
      default: String(options.default),
      accepted: `${min}–${max}${options.meaning ? ` (${options.meaning})` : ''}`,
      description: options.description,
    } satisfies SettingMeta);
}

/** Like integerSetting, but unset stays undefined (the caller falls back to another setting). */
export function optionalIntegerSetting(options: {
  min: number;
  max: number;
  unset: string;
  description?: string;
}) {
  const { min, max } = options;
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const trimmed = raw.trim();
      const value = /^-?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return value;
    })
    .meta({
      default: options.unset,
      accepted: `${min}–${max}`,
      description: options.description,
    } satisfies SettingMeta);
}

export function stringSetting(options: {
  default: string;
  pattern?: RegExp;
  accepted?: string;
  description?: string;
  path?: true;
}) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw ?? options.default;
      if (options.pattern && !options.pattern.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be ${options.accepted ?? `a string matching ${options.pattern}`}; got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return value;
    })
    .meta({
      default: options.default,
      accepted: options.accepted,
      description: options.description,
      ...(options.path ? { path: true } : {}),
    } satisfies SettingMeta);
}

export function optionalStringSetting(
  options: {
    default?: string;
    pattern?: RegExp;
    accepted?: string;
    description?: string;
    secret?: SettingMeta['secret'];
    /** A further rule for a value the pattern accepts: what is wrong with it, or undefined. */
    check?: (raw: string) => string | undefined;
    path?: true;
  } = {},
) {
  return z
    .string()
    .optional()
    .superRefine((raw, ctx) => {
      if (raw === undefined) return;
      const got = `got ${JSON.stringify(redact(raw, options.secret))}`;
      if (options.pattern && !options.pattern.test(raw)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be ${options.accepted ?? `a string matching ${options.pattern}`}; ${got}`,
        });
        return;
      }
      const problem = options.check?.(raw);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${problem}; ${got}` });
    })
    .meta({
      default: options.default ?? '(unset)',
      accepted: options.accepted,
      description: options.description,
      secret: options.secret,
      ...(options.path ? { path: true } : {}),
    } satisfies SettingMeta);
}

/** Comma-separated list; blanks are dropped. */
export function listSetting(options: { description?: string; secret?: true } = {}) {
  return z
    .string()
    .optional()
    .transform((raw) =>
      (raw ?? '')
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    )
    .meta({
      default: '(empty)',
      accepted: 'comma-separated list',
      description: options.description,
      secret: options.secret,
    } satisfies SettingMeta);
}

export function booleanSetting(options: { default: boolean; description?: string }) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return options.default;
      const normalized = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
      if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
      ctx.addIssue({
        code: 'custom',
        message: `must be true or false; got ${JSON.stringify(raw)}`,
      });
      return z.NEVER;
    })
    .meta({
      default: String(options.default),
      accepted: 'true or false',
      description: options.description,
    } satisfies SettingMeta);
}
