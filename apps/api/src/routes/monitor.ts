/** Monitor and version: health, DAG cache figures, server version. */
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import type { RouteContext } from './common.ts';

/** A scheduler that has not heartbeaten for this long is reported unhealthy (Airflow's default). */
const SCHEDULER_HEALTH_THRESHOLD_MS = 30_000;
const HEALTH_DB_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function monitorRoutes(ctx: RouteContext): RouteDefinition[] {
  const { queries, dagBag } = ctx;

  /**
   * The database's and the scheduler's state, checked once for every health request that arrives
   * while a check runs: the endpoint needs no token, and a flood of it must not take more than
   * one of the pool's connections from the clients that have one.
   */
  let checking: Promise<{ database: 'healthy' | 'unhealthy'; heartbeat: Date | null }> | undefined;
  const check = () =>
    (checking ??= (async () => {
      try {
        await withTimeout(queries.ping(), HEALTH_DB_TIMEOUT_MS);
        const heartbeat = await withTimeout(
          queries.latestSchedulerHeartbeat(),
          HEALTH_DB_TIMEOUT_MS,
        );
        return { database: 'healthy' as const, heartbeat };
      } catch {
        return { database: 'unhealthy' as const, heartbeat: null };
      }
    })().finally(() => {
      checking = undefined;
    }));

  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/monitor/health',
      operationId: 'get_health',
      summary: 'Get Health',
      description:
        'No token needed. 200 whenever the API serves, as Airflow: `metadatabase` is `unhealthy` while the database does not answer within 2 s; `scheduler` is `healthy` when a scheduler heartbeat is at most 30 s old (none at all is `unhealthy`); `dag_processor` runs inside the scheduler and reports its heartbeat; there is no triggerer (null).',
      tags: ['Monitor'],
      auth: false,
      success: { status: 200, description: 'Successful Response', schema: s.HealthInfoResponse },
      async handler() {
        const { database, heartbeat } = await check();
        // As Airflow's get_airflow_health: no scheduler heartbeat at all (none ever ran, or the
        // database is unreachable) is 'unhealthy', not null.
        const schedulerStatus =
          heartbeat !== null && Date.now() - heartbeat.getTime() <= SCHEDULER_HEALTH_THRESHOLD_MS
            ? 'healthy'
            : 'unhealthy';
        const latestHeartbeat = heartbeat?.toISOString() ?? null;
        return {
          status: 200,
          body: {
            metadatabase: { status: database },
            scheduler: { status: schedulerStatus, latest_scheduler_heartbeat: latestHeartbeat },
            // No triggerer here: Airflow reports null when it has no triggerer job.
            triggerer: { status: null, latest_triggerer_heartbeat: null },
            // The DAG processor runs inside each scheduler, so it is as alive as the scheduler's
            // job (Airflow 3 runs it as a job of its own and always reports it).
            dag_processor: {
              status: schedulerStatus,
              latest_dag_processor_heartbeat: latestHeartbeat,
            },
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/monitor/dagbag',
      operationId: 'get_dagbag_stats',
      summary: 'DAG cache figures',
      description:
        "Ours: live figures of the API server's DAG cache (entries, weight, hits, misses, evictions by reason).",
      tags: ['Monitor'],
      success: { status: 200, description: 'Successful Response', schema: s.DagBagStatsResponse },
      handler: () => ({ status: 200, body: dagBag.stats() }),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/version',
      operationId: 'get_version',
      summary: 'Get Version',
      description:
        'No token needed, as in Airflow 3. `git_version` is the GIT_COMMIT the API was started with, else null.',
      tags: ['Version'],
      // Airflow 3 serves it without authentication (its version router sits outside the
      // authenticated one), so a client can check what it talks to before it has a token.
      auth: false,
      success: { status: 200, description: 'Successful Response', schema: s.VersionInfo },
      handler: () => ({ status: 200, body: { version: ctx.version, git_version: ctx.gitVersion } }),
    }),
  ];
}
