/** An answer other than 2xx: the HTTP status and the API's `detail` (Airflow's error body). */
export class DagbagApiError extends Error {
  override readonly name = 'DagbagApiError';
  readonly status: number;
  /** Airflow's `detail`: a sentence, or for validation errors the list of problems. */
  readonly detail: unknown;
  readonly method: string;
  readonly url: string;

  constructor(init: { status: number; detail: unknown; method: string; url: string }) {
    super(
      `${init.method} ${new URL(init.url).pathname}: ${init.status} ${detailText(init.detail)}`,
    );
    this.status = init.status;
    this.detail = init.detail;
    this.method = init.method;
    this.url = init.url;
  }
}

/** The server could not be reached at all (refused, reset, DNS, TLS): no HTTP answer. */
export class DagbagUnreachableError extends Error {
  override readonly name = 'DagbagUnreachableError';
  readonly url: string;

  constructor(url: string, cause: unknown) {
    super(`cannot reach the dagbag API at ${new URL(url).origin}: ${causeText(cause)}`, { cause });
    this.url = url;
  }
}

/**
 * `detail` as one line: a string as is, FastAPI's validation list as `loc: msg; ...`, Airflow's
 * database-error object (`{reason, statement, orig_error, message}`) as its `message`.
 */
export function detailText(detail: unknown): string {
  if (typeof detail === 'string') return detail;
  if (isAirflowDatabaseError(detail)) return detail.message;
  if (Array.isArray(detail))
    return detail
      .map((item: { loc?: unknown[]; msg?: string }) =>
        item && typeof item === 'object' && 'msg' in item
          ? `${(item.loc ?? []).join('.')}: ${item.msg}`
          : JSON.stringify(item),
      )
      .join('; ');
  return JSON.stringify(detail);
}

function isAirflowDatabaseError(detail: unknown): detail is { reason: string; message: string } {
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return false;
  const { reason, message } = detail as Record<string, unknown>;
  return typeof reason === 'string' && typeof message === 'string';
}

function causeText(cause: unknown): string {
  // fetch's TypeError says only "fetch failed"; the reason (ECONNREFUSED, bad port) is its cause.
  const inner = (cause as { cause?: { code?: string; message?: string } })?.cause;
  if (inner?.code) return inner.code;
  if (inner?.message) return inner.message;
  return cause instanceof Error ? cause.message : String(cause);
}
