/**
 * What an `API_AUTH_TOKENS` entry is: `name:token` names its caller, a bare token is named by a
 * fingerprint. Read by the start-up check (config.ts, before telemetry: node:crypto only) and by
 * the bearer check (auth.ts).
 */
import { createHash } from 'node:crypto';

export function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * `name:token` entries name their caller; the name's alphabet keeps it readable in the audit trail.
 */
const NAMED_ENTRY = /^([A-Za-z0-9_.@-]{1,64}):(.+)$/;

/**
 * The shortest token accepted. Tokens never expire and a wrong one costs the client one request:
 * a short one could be guessed over the network. 16 characters of base64 are 96 bits.
 */
export const MIN_TOKEN_LENGTH = 16;

/** One accepted token and who presents it (the audit trail's `owner`). */
export interface TokenEntry {
  token: string;
  actor: string;
}

/**
 * `API_AUTH_TOKENS` entries: `name:token` names the caller; a bare token is named by a fingerprint
 * (`token:` + the first 12 hex digits of its sha256), so the audit trail tells callers apart
 * without ever holding a token.
 */
export function parseTokenEntries(entries: readonly string[]): TokenEntry[] {
  return entries.map((entry) => {
    const named = NAMED_ENTRY.exec(entry);
    if (named) return { actor: named[1]!, token: named[2]! };
    return { actor: `token:${digest(entry).toString('hex').slice(0, 12)}`, token: entry };
  });
}

/**
 * Why an entry's token is too weak to accept, naming the entry by its position and caller (never
 * by the token); undefined when it is long enough.
 */
export function weakTokenProblem(entry: TokenEntry, position: number): string | undefined {
  if (entry.token.length >= MIN_TOKEN_LENGTH) return undefined;
  return `entry ${position} (${entry.actor}) has a token of ${entry.token.length} characters; each must have at least ${MIN_TOKEN_LENGTH} (make one with \`openssl rand -base64 32\`)`;
}
