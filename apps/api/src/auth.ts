import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RequestHandler } from 'express';
import { ApiError } from './errors.ts';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Bearer-token check in constant time: both sides are hashed first so the comparison always runs
 * over 32 bytes whatever the lengths, and every configured token is compared (no early exit).
 */
export function createTokenVerifier(tokens: readonly string[]): (candidate: string) => boolean {
  if (tokens.length === 0) throw new Error('at least one API token is required');
  const digests = tokens.map(digest);
  return (candidate) => {
    const presented = digest(candidate);
    let matched = false;
    for (const expected of digests) matched = timingSafeEqual(presented, expected) || matched;
    return matched;
  };
}

const BEARER = /^Bearer[ ]+([^\s]+)\s*$/i;
const CHALLENGE = { 'WWW-Authenticate': 'Bearer' };

/** Every path but the open ones needs `Authorization: Bearer <token>`. */
export function requireBearerToken(
  tokens: readonly string[],
  openPaths: ReadonlySet<string>,
): RequestHandler {
  const verify = createTokenVerifier(tokens);
  return (req, _res, next) => {
    // Routing is not strict about a trailing slash, so neither is this check.
    if (openPaths.has(req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path)) return next();
    const header = req.headers.authorization;
    if (header === undefined)
      return next(new ApiError('UNAUTHORIZED', 'Not authenticated', { headers: CHALLENGE }));
    const match = BEARER.exec(header);
    if (!match || !verify(match[1]!)) {
      return next(
        new ApiError('UNAUTHORIZED', 'Invalid or expired token', {
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
        }),
      );
    }
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
    if (token.length >= 16) {
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
