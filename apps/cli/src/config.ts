/**
 * Where the API is and which token to send: flags, then the environment, then the development
 * defaults.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir } from '@dagbag/config';

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/**
 * The token the API generates when API_AUTH_TOKENS is unset: `api-token` in its DATA_DIR, read
 * from the same variable (default `.data/` at the repository root).
 */
export function devTokenFile(env: { DATA_DIR?: string }): string {
  return join(dataDir(env.DATA_DIR || undefined), 'api-token');
}

export interface CliConfig {
  url: string;
  token: string | undefined;
  /** Where the token came from, for the hint of a 401: `--token`, `DAGBAG_API_TOKEN`, the path of
   * the development token file (devTokenFile) or `none`. */
  tokenSource: string;
}

export function resolveConfig(
  flags: { url?: string; token?: string },
  env: { DAGBAG_API_URL?: string; DAGBAG_API_TOKEN?: string; DATA_DIR?: string },
): CliConfig {
  const url = flags.url ?? (env.DAGBAG_API_URL || DEFAULT_API_URL);
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(
      `${flags.url ? '--url' : 'DAGBAG_API_URL'} must be an http(s) URL such as ${DEFAULT_API_URL}, not ${JSON.stringify(url)}`,
    );
  }
  if (flags.token) return { url, token: flags.token, tokenSource: '--token' };
  if (env.DAGBAG_API_TOKEN)
    return { url, token: env.DAGBAG_API_TOKEN, tokenSource: 'DAGBAG_API_TOKEN' };
  const tokenFile = devTokenFile(env);
  try {
    const token = readFileSync(tokenFile, 'utf8').trim();
    if (token) return { url, token, tokenSource: tokenFile };
  } catch {
    // No development token: requests go without one and a 401 says how to give one.
  }
  return { url, token: undefined, tokenSource: 'none' };
}

/** A mistake in the command line itself: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A failure the command reports itself (a failed run, invalid files): exit 1, message printed as
 * is.
 */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}
