/**
 * One error class for every failure a handler reports, with a closed set of codes and one table
 * from code to HTTP status (the shape of tRPC's TRPCError and getHTTPStatusCodeFromError). Anything
 * else that reaches the error handler is classified once in `toApiError`.
 */
import { DagValidationError, UnsafeLogPathError } from '@dagbag/dagbag';
import { DuplicateDagRunError, isDataException, isDatabaseUnavailable } from '@dagbag/db';

export const HTTP_STATUS_BY_CODE = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_CONTENT: 422,
  INTERNAL_SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ApiErrorCode = keyof typeof HTTP_STATUS_BY_CODE;

/**
 * Airflow's `detail` for a row whose unique key is taken (its `_UniqueConstraintErrorHandler`,
 * with `[api] expose_stacktrace` off): clients written against Airflow test `reason` to tell "it
 * already exists" from other conflicts. `message` says which key (Airflow's points at its log).
 */
export interface UniqueViolationDetail {
  reason: 'Unique constraint violation';
  statement: 'hidden';
  orig_error: 'hidden';
  message: string;
}

/** FastAPI's validation item, as Airflow returns it in `HTTPValidationError.detail`. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly code: ApiErrorCode;

  constructor(
    code: ApiErrorCode,
    message: string,
    options: {
      cause?: unknown;
      /** The body's `detail` when it is not the message: Airflow's list or object forms. */
      detail?: ValidationIssue[] | UniqueViolationDetail;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = HTTP_STATUS_BY_CODE[code];
    this.detail = options.detail ?? message;
    this.headers = options.headers ?? {};
  }

  readonly detail: string | ValidationIssue[] | UniqueViolationDetail;
  readonly headers: Record<string, string>;

  /**
   * The JSON body: `{detail: string}`, Airflow's validation list for 422, or Airflow's unique
   * violation object for a key that is taken.
   */
  body(): { detail: string | ValidationIssue[] | UniqueViolationDetail } {
    return { detail: this.detail };
  }

  static validation(issues: ValidationIssue[]): ApiError {
    return new ApiError('UNPROCESSABLE_CONTENT', 'Validation error', { detail: issues });
  }

  /** 409 for a key that is taken, in Airflow's shape; `message` says which key. */
  static uniqueViolation(message: string, cause: unknown): ApiError {
    const detail: UniqueViolationDetail = {
      reason: 'Unique constraint violation',
      statement: 'hidden',
      orig_error: 'hidden',
      message,
    };
    return new ApiError('CONFLICT', message, { cause, detail });
  }

  static notFound(message: string): ApiError {
    return new ApiError('NOT_FOUND', message);
  }
}

/**
 * A client error raised while reading the body: body-parser's own carry `type` and `status`; those
 * it wraps with http-errors (a malformed gzip/deflate/br stream, an aborted upload) carry only a
 * 4xx `status`. Either way the client's fault, never a 500.
 */
interface BodyReadError {
  type?: string;
  status: number;
  expose?: boolean;
  message: string;
  code?: string;
}

function isBodyReadError(error: unknown): error is BodyReadError {
  if (!(error instanceof Error)) return false;
  const status = (error as Partial<BodyReadError>).status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** Maps anything thrown by a handler or middleware to the one error class. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof DuplicateDagRunError) return ApiError.uniqueViolation(error.message, error);
  if (error instanceof UnsafeLogPathError)
    return new ApiError('BAD_REQUEST', error.message, { cause: error });
  if (isBodyReadError(error)) {
    switch (error.type) {
      case 'entity.too.large':
        return new ApiError('PAYLOAD_TOO_LARGE', 'Request body is larger than the limit', {
          cause: error,
        });
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return new ApiError('UNSUPPORTED_MEDIA_TYPE', error.message, { cause: error });
      default: {
        // zlib's errors (Z_DATA_ERROR, ERR__ERROR_FORMAT_PADDING_1...): the declared encoding lies.
        const compressed = typeof error.code === 'string' && /^(Z_|ERR_)/.test(error.code);
        const message = compressed
          ? `The request body is not valid for its Content-Encoding (${error.message})`
          : error.expose
            ? error.message
            : 'Bad request';
        return new ApiError('BAD_REQUEST', message, { cause: error });
      }
    }
  }
  if (error instanceof URIError)
    return new ApiError('BAD_REQUEST', 'Malformed URL encoding', { cause: error });
  if (isDataException(error)) {
    // A value PostgreSQL refused (out of range, bad encoding...): the client's input, never a 500.
    return new ApiError('BAD_REQUEST', 'A value in the request cannot be stored or compared', {
      cause: error,
    });
  }
  if (error instanceof DagValidationError && error.version) {
    // A stored version that does not validate (written by something else, or edited by hand):
    // the server's data is at fault, and the client can at least say which version.
    const { dagId, versionNumber } = error.version;
    const problems = error.problems.map((problem) => problem.reason).join('; ');
    return new ApiError(
      'INTERNAL_SERVER_ERROR',
      `Version ${versionNumber} of DAG '${dagId}' is stored in a form this server cannot read (${problems}); the DAG file's next change makes a new version`,
      { cause: error },
    );
  }
  if (isDatabaseUnavailable(error)) {
    return new ApiError(
      'SERVICE_UNAVAILABLE',
      'The metadata database is unreachable or busy; try again shortly',
      { cause: error },
    );
  }
  return new ApiError('INTERNAL_SERVER_ERROR', 'Internal server error', { cause: error });
}
