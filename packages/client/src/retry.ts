/** Retries of idempotent requests answered 503 (the API says so while its database is away). */
import { DagbagApiError, DagbagUnreachableError } from './errors.ts';

export interface RetryOptions {
  /** Further attempts after the first; default 4. 0 disables retries. */
  retries?: number;
  /** First backoff; doubled each attempt (with jitter); default 250 ms. */
  minDelayMs?: number;
  /** Ceiling of one backoff, also of a server's `Retry-After`; default 5000 ms. */
  maxDelayMs?: number;
}

/** RFC 9110's idempotent methods: repeating them has the effect of sending them once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

export function retryingFetch(
  fetchImpl: (request: Request) => Promise<Response>,
  options: RetryOptions = {},
): (request: Request) => Promise<Response> {
  const retries = options.retries ?? 4;
  const minDelayMs = options.minDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  return async (request) => {
    const attempts = IDEMPOTENT.has(request.method) ? retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      const response = await send(fetchImpl, attempt < attempts ? request.clone() : request);
      if (response.status !== 503 || attempt >= attempts) return response;
      await response.body?.cancel();
      const backoff = minDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      const retryAfter = Number(response.headers.get('retry-after')) * 1000 || 0;
      await sleep(Math.min(maxDelayMs, Math.max(backoff, retryAfter)), request.signal);
    }
  };
}

async function send(
  fetchImpl: (request: Request) => Promise<Response>,
  request: Request,
): Promise<Response> {
  try {
    return await fetchImpl(request);
  } catch (error) {
    // fetch rejects with a TypeError when no HTTP answer came; an abort stays an abort.
    if (error instanceof TypeError) throw new DagbagUnreachableError(request.url, error);
    throw error;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!signal) return void setTimeout(resolve, ms);
    signal.throwIfAborted();
    // The listener goes when the pause ends either way: left on a signal that outlives many
    // pauses (a waitForRun through API restarts), one piled up per pause.
    const aborted = () => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', aborted);
      resolve();
    }, ms);
    signal.addEventListener('abort', aborted, { once: true });
  });
}

/**
 * The API went away rather than answered: unreachable (refused, reset), a response stream cut
 * short (fetch's TypeError: a process restarting), or a 503 its retries outlasted. Worth trying
 * again for a read; never an answer about the request itself.
 */
export function isConnectionLoss(error: unknown): boolean {
  return (
    error instanceof DagbagUnreachableError ||
    error instanceof TypeError ||
    (error instanceof DagbagApiError && error.status === 503)
  );
}
