/**
 * A typed client of the dagbag REST API: openapi-fetch over the types generated from the API's own
 * OpenAPI document (src/schema.ts). Every non-2xx answer is thrown as a DagbagApiError carrying
 * Airflow's `detail`; idempotent calls answered 503 are retried with backoff. Web APIs only (fetch,
 * streams, TextDecoderStream): it runs in Node 22+ and in a browser bundle alike.
 */
import createOpenApiClient, { type Client, type Middleware } from 'openapi-fetch';
import { DagbagApiError } from './errors.ts';
import { isConnectionLoss, retryingFetch, sleep, type RetryOptions } from './retry.ts';
import type { components, paths } from './schema.ts';

export type Schemas = components['schemas'];
export type DagRunState = Schemas['DagRunState'];

export interface DagbagClientOptions {
  /**
   * Where the API is, e.g. `http://127.0.0.1:8080` (paths start with /api/v2); a trailing
   * `/api/v2`, as Airflow's clients take it, is the same.
   */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  retry?: RetryOptions;
  /** Another fetch (tests, proxies); default globalThis.fetch. */
  fetch?: (request: Request) => Promise<Response>;
}

export interface Page {
  limit: number;
  offset: number;
}

export interface WaitForRunOptions {
  /** Seconds between the server's state checks; default 1. */
  interval?: number;
  /** Called with every state line the server streams (the first is the state now). */
  onState?: (state: DagRunState) => void;
  signal?: AbortSignal;
  /**
   * How long to keep reconnecting, with backoff, when the API goes away mid-wait (a restart): the
   * wait resumes once it answers again; default WAIT_RECONNECT_MS (30 s). 0 gives up at once.
   */
  reconnectMs?: number;
}

/** How long waitForRun reconnects to an API that went away before it gives up: 30 s. */
export const WAIT_RECONNECT_MS = 30_000;

/**
 * Typed for JSON answers: the document also names the text/plain source and the ndjson log that
 * an `Accept` header asks for, which would otherwise make every `data` of those a union.
 */
export interface DagbagClient extends Client<paths, 'application/json'> {
  /**
   * Every item of a paginated listing, fetching page after page (`limit`/`offset`) until
   * `total_entries` are read: `client.paginate((page) => client.GET(path, { params: { query:
   * page } }), 'dags')`.
   */
  paginate<K extends string, T>(
    fetchPage: (page: Page) => Promise<{ data?: { [key in K]: T[] } & { total_entries: number } }>,
    key: K,
    pageSize?: number,
  ): AsyncGenerator<T>;
  /** Resolves with the run's final state (success or failed), following the streaming `wait`. */
  waitForRun(dagId: string, dagRunId: string, options?: WaitForRunOptions): Promise<DagRunState>;
}

/** The states a run ends in (Airflow's finished DagRunState values). */
const FINISHED_RUN_STATES: ReadonlySet<DagRunState> = new Set(['success', 'failed']);

const RECONNECT_MIN_DELAY_MS = 250;
const RECONNECT_MAX_DELAY_MS = 2000;

/**
 * The reconnect policy of reads that ride out an API restart: after a connection loss, wait with
 * backoff (250 ms doubling to 2 s) and try again, for `reconnectMs` from the first loss in a row.
 * `lost(error)` rethrows what is not a connection loss and what comes after the time is up.
 */
function reconnector(reconnectMs: number, signal?: AbortSignal) {
  let lostAt: number | undefined;
  let backoffMs = RECONNECT_MIN_DELAY_MS;
  return {
    reached(): void {
      lostAt = undefined;
      backoffMs = RECONNECT_MIN_DELAY_MS;
    },
    async lost(error: unknown): Promise<void> {
      if (!isConnectionLoss(error) || signal?.aborted) throw error;
      lostAt ??= Date.now();
      const left = lostAt + reconnectMs - Date.now();
      if (left <= 0) throw error;
      await sleep(Math.min(backoffMs, left), signal);
      backoffMs = Math.min(backoffMs * 2, RECONNECT_MAX_DELAY_MS);
    },
  };
}

/**
 * `read()`, tried again while the API is away (a restart: unreachable, a stream cut short, a 503
 * its retries outlasted) for up to `reconnectMs` (default WAIT_RECONNECT_MS), with waitForRun's
 * backoff. For reads only: a write that may have reached the API must not be sent twice.
 */
export async function readThroughRestarts<T>(
  read: () => Promise<T>,
  options: { reconnectMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const reconnect = reconnector(options.reconnectMs ?? WAIT_RECONNECT_MS, options.signal);
  for (;;) {
    try {
      return await read();
    } catch (error) {
      await reconnect.lost(error);
    }
  }
}

const throwOnError: Middleware = {
  async onResponse({ request, response }) {
    if (response.ok) return undefined;
    const text = await response.text();
    let detail: unknown = text || response.statusText;
    try {
      detail = (JSON.parse(text) as { detail?: unknown }).detail ?? detail;
    } catch {
      // Not JSON (a proxy's page): the text itself is the detail.
    }
    throw new DagbagApiError({
      status: response.status,
      detail,
      method: request.method,
      url: request.url,
    });
  },
};

export function createDagbagClient(options: DagbagClientOptions): DagbagClient {
  const baseFetch = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const client = createOpenApiClient<paths, 'application/json'>({
    // The paths carry /api/v2: `http://host:8080/api/v2` would have made every one a 404.
    baseUrl: options.baseUrl.replace(/\/+$/, '').replace(/\/api\/v2$/, ''),
    headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
    fetch: retryingFetch(baseFetch, options.retry),
  });
  client.use(throwOnError);

  async function* paginate<K extends string, T>(
    fetchPage: (page: Page) => Promise<{ data?: { [key in K]: T[] } & { total_entries: number } }>,
    key: K,
    pageSize = 100,
  ): AsyncGenerator<T> {
    for (let offset = 0; ;) {
      const { data } = await fetchPage({ limit: pageSize, offset });
      const items = data?.[key] ?? [];
      yield* items;
      offset += items.length;
      if (items.length === 0 || offset >= (data?.total_entries ?? 0)) return;
    }
  }

  async function waitForRun(
    dagId: string,
    dagRunId: string,
    waitOptions: WaitForRunOptions = {},
  ): Promise<DagRunState> {
    // The server ends the stream at a finished state; a stream cut short (restart, proxy timeout)
    // is opened again, and a run deleted meanwhile ends as the 404 of the next request. The wait
    // is a read: an API that went away (a restart) is reconnected to with backoff for
    // `reconnectMs` from the first failure; the first line of the new stream is the state then.
    const reconnect = reconnector(waitOptions.reconnectMs ?? WAIT_RECONNECT_MS, waitOptions.signal);
    for (;;) {
      let last: DagRunState | undefined;
      try {
        const { data: stream } = await client.GET(
          '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/wait',
          {
            params: {
              path: { dag_id: dagId, dag_run_id: dagRunId },
              query: { interval: waitOptions.interval ?? 1 },
            },
            parseAs: 'stream',
            ...(waitOptions.signal ? { signal: waitOptions.signal } : {}),
          },
        );
        reconnect.reached();
        for await (const line of ndjsonLines(stream)) {
          last = (JSON.parse(line) as { state: DagRunState }).state;
          waitOptions.onState?.(last);
        }
      } catch (error) {
        await reconnect.lost(error);
        continue;
      }
      if (last && FINISHED_RUN_STATES.has(last)) return last;
    }
  }

  return Object.assign(client, { paginate, waitForRun });
}

async function* ndjsonLines(
  stream: ReadableStream<Uint8Array> | null | undefined,
): AsyncGenerator<string> {
  if (!stream) return;
  let buffered = '';
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield line;
    }
  }
  if (buffered.trim()) yield buffered.trim();
}
