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
        let database: 'healthy' | 'unhealthy' = 'healthy';
        let heartbeat: Date | null = null;
        try {
          await withTimeout(queries.ping(), HEALTH_DB_TIMEOUT_MS);
          heartbeat = await withTimeout(queries.latestSchedulerHeartbeat(), HEALTH_DB_TIMEOUT_MS);
        } catch {
          database = 'unhealthy';
        }
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
