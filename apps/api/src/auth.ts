import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RequestHandler, Response } from 'express';
import { ApiError } from './errors.ts';
import { digest, MIN_TOKEN_LENGTH, parseTokenEntries } from './tokens.ts';

/**
 * Bearer-token check in constant time: both sides are hashed first so the comparison always runs
 * over 32 bytes whatever the lengths, and every configured token is compared (no early exit).
 * Returns who the token belongs to, or undefined when it matches none.
 */
export function createTokenVerifier(
  entries: readonly string[],
): (candidate: string) => string | undefined {
  if (entries.length === 0) throw new Error('at least one API token is required');
  const known = parseTokenEntries(entries).map((entry) => ({
    actor: entry.actor,
    digest: digest(entry.token),
  }));
  return (candidate) => {
    const presented = digest(candidate);
    let actor: string | undefined;
    for (const entry of known) {
      if (timingSafeEqual(presented, entry.digest)) actor ??= entry.actor;
    }
    return actor;
  };
}

/** Who made the request (set by `requireBearerToken`); null on open paths. */
export function actorOf(res: Response): string | null {
  const actor: unknown = res.locals.actor;
  return typeof actor === 'string' ? actor : null;
}

const BEARER = /^Bearer[ ]+([^\s]+)\s*$/i;
const CHALLENGE = { 'WWW-Authenticate': 'Bearer' };

/** Every path but the open ones needs `Authorization: Bearer <token>`. */
export function requireBearerToken(
  tokens: readonly string[],
  openPaths: ReadonlySet<string>,
): RequestHandler {
  const verify = createTokenVerifier(tokens);
  return (req, res, next) => {
    // Routing is not strict about a trailing slash, so neither is this check.
    if (openPaths.has(req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path)) return next();
    const header = req.headers.authorization;
    if (header === undefined)
      return next(new ApiError('UNAUTHORIZED', 'Not authenticated', { headers: CHALLENGE }));
    const match = BEARER.exec(header);
    const actor = match ? verify(match[1]!) : undefined;
    if (actor === undefined) {
      return next(
        new ApiError('UNAUTHORIZED', 'Invalid or expired token', {
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
        }),
      );
    }
    res.locals.actor = actor;
    next();
  };
}

/**
 * Development convenience: with API_AUTH_TOKENS unset, a random token is kept in
 * `<dataDir>/api-token` (mode 0600) and reused across restarts. Returns it and whether it is new.
 */
export function loadOrCreateDevelopmentToken(dataDirectory: string): {
  token: string;
  path: string;
  created: boolean;
} {
  const path = join(dataDirectory, 'api-token');
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').trim();
    if (token.length >= MIN_TOKEN_LENGTH) {
      chmodSync(path, 0o600);
      return { token, path, created: false };
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, path, created: true };
}
