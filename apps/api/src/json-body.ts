/**
 * The request body reader, mounted only on operations that have a body (GET and DELETE never read
 * one). express.raw() reads, inflates (gzip/deflate/br) and bounds the bytes; the text must then be
 * valid UTF-8, nest at most `maxDepth` levels and hold only numbers that survive the round trip
 * through a JavaScript number exactly, since what we store is what we answer with later.
 */
import express, { type RequestHandler } from 'express';
import { ApiError } from './errors.ts';

/** Media types read as JSON (as FastAPI does). */
export const JSON_MEDIA_TYPES = ['application/json', 'application/*+json'];

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * `[sign]digits×10^exponent` with no leading or trailing zeros: equal iff the numbers are equal.
 */
function canonicalDecimal(text: string): string | undefined {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return undefined;
  const fraction = match[3] ?? '';
  let digits = (match[2]! + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  let exponent = Number(match[4] ?? 0) - fraction.length;
  // Trailing zeros by a scan: /0+$/ backtracks over every run of zeros that is not at the end,
  // quadratic in a literal like 1000…0001e-N (150 KB of it held the API's event loop for 15 s).
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 0x30 /* 0 */) end--;
  exponent += digits.length - end;
  digits = digits.slice(0, end);
  return `${match[1]}${digits}e${exponent}`;
}

/**
 * Whether a JSON number literal reads as a JavaScript number of exactly that value
 * (`12345678901234567890`, `1e400` and `1e-400` do not).
 */
export function isExactNumber(literal: string): boolean {
  const value = Number(literal);
  if (!Number.isFinite(value)) return false;
  return canonicalDecimal(literal) === canonicalDecimal(JSON.stringify(value));
}

/**
 * One linear pass over JSON text outside strings: the deepest nesting (stops counting past
 * `maxDepth`) and the first number literal that would not be kept exactly.
 */
export function scanJson(text: string, maxDepth: number): { tooDeep: boolean; inexact?: string } {
  let depth = 0;
  let inexact: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) return { tooDeep: true };
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      let exponent = false;
      for (; end < text.length; end++) {
        const n = text.charCodeAt(end);
        if (n === 0x65 || n === 0x45)
          exponent = true; // e E
        else if (!((n >= 0x30 && n <= 0x39) || n === 0x2e || n === 0x2b || n === 0x2d)) break;
      }
      // At most 15 characters and no exponent: at most 15 digits, which a double always keeps.
      const certain = !exponent && end - i <= 15;
      if (!certain && inexact === undefined && !isExactNumber(text.slice(i, end)))
        inexact = text.slice(i, end);
      i = end - 1;
    }
  }
  return inexact === undefined ? { tooDeep: false } : { tooDeep: false, inexact };
}

function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return match?.[1]?.toLowerCase();
}

/** Parses a JSON body under the rules above; throws the 4xx ApiError that names the broken rule. */
export function parseJsonBody(bytes: Buffer, maxDepth: number): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError('BAD_REQUEST', 'The request body is not valid UTF-8');
  }
  const scan = scanJson(text, maxDepth);
  if (scan.tooDeep) {
    throw ApiError.validation([
      {
        loc: ['body'],
        msg: `JSON nests deeper than ${maxDepth} levels (API_BODY_MAX_DEPTH); flatten the structure`,
        type: 'json_too_deep',
      },
    ]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw ApiError.validation([
      {
        loc: ['body'],
        msg: `JSON decode error: ${(error as Error).message}`,
        type: 'json_invalid',
      },
    ]);
  }
  if (scan.inexact !== undefined) {
    throw ApiError.validation([
      {
        loc: ['body'],
        msg: `The number ${scan.inexact.slice(0, 40)} cannot be kept exactly (beyond a 64-bit float's range or precision); send it as a string`,
        type: 'number_inexact',
      },
    ]);
  }
  return value;
}

/**
 * Middleware for one operation with a body: `req.body` becomes the parsed JSON, or stays undefined
 * when no body was sent (the route answers "Field required"). A body of another media type is
 * 415 naming it, rather than "Field required" for a body that was sent.
 */
export function jsonBodyParser(options: {
  limitBytes: number;
  maxDepth: number;
}): RequestHandler[] {
  return [
    // A JSON media type, or none at all: FastAPI reads a body without Content-Type as JSON, and
    // clients send one so (Python's `requests.post(url, data=json.dumps(...))`).
    (req, _res, next) => {
      if (req.headers['content-type'] === undefined || req.is(JSON_MEDIA_TYPES) !== false)
        return next();
      next(
        new ApiError(
          'UNSUPPORTED_MEDIA_TYPE',
          `Unsupported Content-Type "${req.headers['content-type'].slice(0, 100)}": send the body as JSON with Content-Type: application/json`,
        ),
      );
    },
    express.raw({ type: () => true, limit: options.limitBytes, inflate: true }),
    (req, _res, next) => {
      if (!Buffer.isBuffer(req.body)) {
        req.body = undefined;
        return next();
      }
      const charset = charsetOf(req.headers['content-type']);
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        return next(
          new ApiError('UNSUPPORTED_MEDIA_TYPE', `Unsupported charset "${charset}"; send UTF-8`),
        );
      }
      if (req.body.length === 0) {
        req.body = undefined;
        return next();
      }
      try {
        req.body = parseJsonBody(req.body, options.maxDepth);
        next();
      } catch (error) {
        next(error);
      }
    },
  ];
}
