/** Every endpoint of the API, each declared once (see route.ts). */
import type { DagBag } from '@dagbag/dagbag';
import type { ApiQueries, RetriesOf } from '@dagbag/db';
import { z } from 'zod';
import { ApiError } from './errors.ts';
import {
  decodeToken,
  encodeToken,
  LOG_MAX_BYTES,
  LOG_PAGE_BYTES,
  readLogPage,
  structuredLogMessage,
  taskLogPath,
} from './logs.ts';
import { defineRoute, type RouteDefinition } from './route.ts';
import { VersionDirectory } from './version-directory.ts';
import * as s from './schemas.ts';
import {
  dagDetailsResponse,
  dagResponse,
  dagRunResponse,
  dagVersionResponse,
  importErrorResponse,
  structureResponse,
  taskInstanceResponse,
  taskResponse,
} from './serialize.ts';

/** The part of the DAG cache the API uses. */
export type ApiDagBag = Pick<DagBag, 'get' | 'getForRun' | 'getLatest' | 'readUncached' | 'stats'>;

export interface RouteContext {
  queries: ApiQueries;
  dagBag: ApiDagBag;
  /** Root of the task log tree (`<dataDir>/logs`). */
  logsDir: string;
  version: string;
  gitVersion: string | null;
}

/** A scheduler that has not heartbeaten for this long is reported unhealthy (Airflow's default). */
const SCHEDULER_HEALTH_THRESHOLD_MS = 30_000;
const HEALTH_DB_TIMEOUT_MS = 2_000;

const dagNotFound = (dagId: string) =>
  ApiError.notFound(`The DAG with dag_id: \`${dagId}\` was not found`);
const runNotFound = (dagId: string, runId: string) =>
  ApiError.notFound(`The DagRun with dag_id: \`${dagId}\` and run_id: \`${runId}\` was not found`);

function range(query: Record<string, Date | undefined>, prefix: string) {
  const bounds = {
    gte: query[`${prefix}_gte`],
    gt: query[`${prefix}_gt`],
    lte: query[`${prefix}_lte`],
    lt: query[`${prefix}_lt`],
  };
  return Object.values(bounds).some((value) => value !== undefined) ? bounds : undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Airflow names a run after the moment it was triggered: `manual__2026-01-01T00:00:00+00:00`. */
function generatedRunId(runAfter: Date): string {
  return `manual__${runAfter.toISOString().replace('Z', '+00:00')}`;
}

const DAG_ORDER = [
  'dag_id',
  'dag_display_name',
  'last_parsed_time',
  'next_dagrun_logical_date',
  'is_paused',
] as const;
const RUN_ORDER = [
  'id',
  'dag_run_id',
  'run_id',
  'state',
  'logical_date',
  'run_after',
  'start_date',
  'end_date',
  'queued_at',
  'updated_at',
] as const;
const TI_ORDER = [
  'id',
  'task_id',
  'map_index',
  'state',
  'start_date',
  'end_date',
  'duration',
  'try_number',
  'operator',
  'logical_date',
  'run_after',
] as const;
const VERSION_ORDER = ['id', 'version_number', 'created_at'] as const;
const IMPORT_ERROR_ORDER = [
  'id',
  'import_error_id',
  'timestamp',
  'filename',
  'bundle_name',
] as const;
const TASK_ORDER = ['task_id', 'operator_name', 'trigger_rule', 'retries'] as const;

const TI_STATE_FILTER = z.union([s.TaskInstanceState, z.enum(['no_status', 'none', 'null'])]);

export function buildRoutes(ctx: RouteContext): RouteDefinition[] {
  const { queries, dagBag } = ctx;
  const versionIds = new VersionDirectory();

  async function requireRun(dagId: string, runId: string) {
    const run = await queries.getDagRun(dagId, runId);
    if (!run) throw runNotFound(dagId, runId);
    return run;
  }

  /** Retries of a task in the version its instance uses, read through the DAG cache. */
  const retriesOf: RetriesOf = async (versionId, taskId) => {
    if (versionId === null) return undefined;
    const entry = await dagBag.get(versionId);
    return entry?.dag.tasks.get(taskId)?.retries;
  };

  return [
    // ---------------------------------------------------------------- monitor and version
    defineRoute({
      method: 'get',
      path: '/api/v2/monitor/health',
      operationId: 'get_health',
      summary: 'Get Health',
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
        const schedulerStatus =
          heartbeat === null
            ? null
            : Date.now() - heartbeat.getTime() <= SCHEDULER_HEALTH_THRESHOLD_MS
              ? 'healthy'
              : 'unhealthy';
        return {
          status: 200,
          body: {
            metadatabase: { status: database },
            scheduler: {
              status: schedulerStatus,
              latest_scheduler_heartbeat: heartbeat?.toISOString() ?? null,
            },
            triggerer: { status: null, latest_triggerer_heartbeat: null },
            dag_processor: null,
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
      tags: ['Version'],
      success: { status: 200, description: 'Successful Response', schema: s.VersionInfo },
      handler: () => ({ status: 200, body: { version: ctx.version, git_version: ctx.gitVersion } }),
    }),

    // ---------------------------------------------------------------- DAGs
    defineRoute({
      method: 'get',
      path: '/api/v2/dags',
      operationId: 'get_dags',
      summary: 'Get Dags',
      tags: ['DAG'],
      query: z.object({
        ...s.pagination,
        tags: s.listParam(z.string()),
        tags_match_mode: z.enum(['any', 'all']).optional(),
        dag_id_pattern: z
          .string()
          .optional()
          .openapi({ description: 'SQL LIKE expression — use `%` / `_` wildcards.' }),
        exclude_stale: s.booleanParam.default(true),
        paused: s.booleanParam.optional(),
        order_by: s.orderByParam(DAG_ORDER, 'dag_id'),
      }),
      success: { status: 200, description: 'Successful Response', schema: s.DAGCollectionResponse },
      async handler({ query }) {
        const page = await queries.listDags({
          limit: query.limit,
          offset: query.offset,
          tags: query.tags,
          tagsMatchMode: query.tags_match_mode,
          dagIdPattern: query.dag_id_pattern,
          excludeStale: query.exclude_stale,
          paused: query.paused,
          orderBy: query.order_by.map((key) => ({
            ...key,
            column: key.column === 'dag_display_name' ? 'dag_id' : key.column,
          })) as never,
        });
        return {
          status: 200,
          body: { dags: page.rows.map(dagResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}',
      operationId: 'get_dag',
      summary: 'Get Dag',
      tags: ['DAG'],
      params: s.dagIdParam,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DAGResponse },
      async handler({ params }) {
        const dag = await queries.getDag(params.dag_id);
        if (!dag) throw dagNotFound(params.dag_id);
        return { status: 200, body: dagResponse(dag) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/details',
      operationId: 'get_dag_details',
      summary: 'Get Dag Details',
      tags: ['DAG'],
      params: s.dagIdParam,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DAGDetailsResponse },
      async handler({ params }) {
        const [dag, latest] = await Promise.all([
          queries.getDag(params.dag_id),
          queries.latestVersion(params.dag_id),
        ]);
        if (!dag) throw dagNotFound(params.dag_id);
        return { status: 200, body: dagDetailsResponse(dag, latest) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/tasks',
      operationId: 'get_tasks',
      summary: 'Get Tasks',
      description: 'The tasks of the latest version of the DAG, read through the DAG cache.',
      tags: ['Task'],
      params: s.dagIdParam,
      query: z.object({
        order_by: z
          .string()
          .default('task_id')
          .refine((key) => (TASK_ORDER as readonly string[]).includes(key.replace(/^-/, '')), {
            message: `Ordering with this attribute is disallowed; use one of ${TASK_ORDER.join(', ')}, optionally prefixed by '-'`,
          }),
      }),
      errors: [400, 404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskCollectionResponse,
      },
      async handler({ params, query }) {
        const entry = await dagBag.getLatest(params.dag_id);
        if (!entry) throw dagNotFound(params.dag_id);
        const tasks = [...entry.dag.tasks.values()].map((task) => taskResponse(entry.dag, task));
        const descending = query.order_by.startsWith('-');
        const column = query.order_by.replace(/^-/, '') as (typeof TASK_ORDER)[number];
        tasks.sort((a, b) => {
          const left = a[column] ?? '';
          const right = b[column] ?? '';
          const order = left < right ? -1 : left > right ? 1 : 0;
          return descending ? -order : order;
        });
        return { status: 200, body: { tasks, total_entries: tasks.length } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/importErrors',
      operationId: 'get_import_errors',
      summary: 'Get Import Errors',
      tags: ['Import Error'],
      query: z.object({ ...s.pagination, order_by: s.orderByParam(IMPORT_ERROR_ORDER, 'id') }),
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.ImportErrorCollectionResponse,
      },
      async handler({ query }) {
        const page = await queries.listImportErrors({
          limit: query.limit,
          offset: query.offset,
          orderBy: query.order_by.map((key) => ({
            ...key,
            column: key.column === 'import_error_id' ? 'id' : key.column,
          })) as never,
        });
        return {
          status: 200,
          body: { import_errors: page.rows.map(importErrorResponse), total_entries: page.total },
        };
      },
    }),

    // ---------------------------------------------------------------- DAG versions
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagVersions',
      operationId: 'get_dag_versions',
      summary: 'Get Dag Versions',
      description:
        'Version metadata from the database; never reads serialized DAGs or fills the DAG cache.',
      tags: ['DagVersion'],
      params: s.dagIdParam,
      query: z.object({
        ...s.pagination,
        version_number: s.integerParam.optional(),
        order_by: s.orderByParam(VERSION_ORDER, 'id'),
      }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DAGVersionCollectionResponse,
      },
      async handler({ params, query }) {
        const page = await queries.listDagVersions(params.dag_id, {
          limit: query.limit,
          offset: query.offset,
          versionNumber: query.version_number,
          orderBy: query.order_by as never,
        });
        if (page.total === 0 && !(await queries.dagExists(params.dag_id)))
          throw dagNotFound(params.dag_id);
        return {
          status: 200,
          body: { dag_versions: page.rows.map(dagVersionResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagVersions/{version_number}',
      operationId: 'get_dag_version',
      summary: 'Get Dag Version',
      tags: ['DagVersion'],
      params: s.dagVersionParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DagVersionResponse },
      async handler({ params }) {
        const version = await queries.getDagVersion(params.dag_id, params.version_number);
        if (!version)
          throw ApiError.notFound(
            `The DagVersion with dag_id: \`${params.dag_id}\` and version_number: \`${params.version_number}\` was not found`,
          );
        return { status: 200, body: dagVersionResponse(version) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagVersions/{version_number}/structure',
      operationId: 'get_dag_version_structure',
      summary: 'Structure of a DAG version',
      description:
        'Ours: the task graph (`nodes`, `edges`) of exactly this version, served through the DAG cache.',
      tags: ['DagVersion'],
      params: s.dagVersionParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DagStructureResponse },
      async handler({ params }) {
        const { dag_id: dagId, version_number: versionNumber } = params;
        // Warm path: the id is remembered and the DAG is cached, so no database round trip.
        const rememberedId = versionIds.get(dagId, versionNumber);
        let entry = rememberedId === undefined ? null : await dagBag.get(rememberedId);
        if (entry === null) {
          if (rememberedId !== undefined) versionIds.forget(dagId, versionNumber);
          const version = await queries.getDagVersion(dagId, versionNumber);
          entry = version ? await dagBag.get(version.id) : null;
          if (entry) versionIds.remember(dagId, versionNumber, entry.versionId);
        }
        if (!entry)
          throw ApiError.notFound(
            `The DagVersion with dag_id: \`${params.dag_id}\` and version_number: \`${params.version_number}\` was not found`,
          );
        return { status: 200, body: structureResponse(entry) };
      },
    }),

    // ---------------------------------------------------------------- DAG runs
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns',
      operationId: 'get_dag_runs',
      summary: 'Get Dag Runs',
      description: 'Use `~` as the dag_id to list the runs of every DAG.',
      tags: ['DagRun'],
      params: s.dagIdParam,
      query: z.object({
        ...s.pagination,
        ...s.timeRangeParams('run_after'),
        ...s.timeRangeParams('logical_date'),
        ...s.timeRangeParams('start_date'),
        ...s.timeRangeParams('end_date'),
        ...s.timeRangeParams('updated_at'),
        run_type: s.listParam(s.DagRunType),
        state: s.listParam(s.DagRunState),
        order_by: s.orderByParam(RUN_ORDER, 'id'),
        run_id_pattern: z
          .string()
          .optional()
          .openapi({ description: 'SQL LIKE expression — use `%` / `_` wildcards.' }),
      }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DAGRunCollectionResponse,
      },
      async handler({ params, query }) {
        const allDags = params.dag_id === '~';
        if (!allDags && !(await queries.dagExists(params.dag_id))) throw dagNotFound(params.dag_id);
        const dates = query as unknown as Record<string, Date | undefined>;
        const page = await queries.listDagRuns({
          dagId: allDags ? undefined : params.dag_id,
          limit: query.limit,
          offset: query.offset,
          runAfter: range(dates, 'run_after'),
          logicalDate: range(dates, 'logical_date'),
          startDate: range(dates, 'start_date'),
          endDate: range(dates, 'end_date'),
          updatedAt: range(dates, 'updated_at'),
          runType: query.run_type,
          state: query.state,
          runIdPattern: query.run_id_pattern,
          orderBy: query.order_by.map((key) => ({
            ...key,
            column: key.column === 'dag_run_id' ? 'run_id' : key.column,
          })) as never,
        });
        return {
          status: 200,
          body: { dag_runs: page.rows.map(dagRunResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v2/dags/{dag_id}/dagRuns',
      operationId: 'trigger_dag_run',
      summary: 'Trigger Dag Run',
      description:
        'Creates a queued manual run on the latest version of the DAG (read through the DAG cache); the scheduler creates its task instances.',
      tags: ['DagRun'],
      params: s.dagIdParam,
      body: s.TriggerDAGRunPostBody,
      errors: [400, 404, 409, 413],
      success: { status: 200, description: 'Successful Response', schema: s.DAGRunResponse },
      async handler({ params, body }) {
        const latest = await dagBag.getLatest(params.dag_id);
        if (!latest) throw dagNotFound(params.dag_id);
        const now = new Date();
        const runAfter = body.run_after ?? now;
        const run = await queries.createDagRun({
          dagId: params.dag_id,
          runId: body.dag_run_id ?? generatedRunId(runAfter),
          logicalDate: body.logical_date,
          runAfter,
          dataIntervalStart: body.data_interval_start ?? null,
          dataIntervalEnd: body.data_interval_end ?? null,
          conf: body.conf ?? {},
          note: body.note ?? null,
          createdDagVersionId: latest.versionId,
          queuedAt: now,
        });
        return { status: 200, body: dagRunResponse(run) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
      operationId: 'get_dag_run',
      summary: 'Get Dag Run',
      tags: ['DagRun'],
      params: s.dagRunParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DAGRunResponse },
      async handler({ params }) {
        return {
          status: 200,
          body: dagRunResponse(await requireRun(params.dag_id, params.dag_run_id)),
        };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
      operationId: 'patch_dag_run',
      summary: 'Patch Dag Run',
      description:
        "Sets the run's state (success/failed also finish its unfinished task instances, as Airflow) and/or its note.",
      tags: ['DagRun'],
      params: s.dagRunParams,
      query: z.object({ update_mask: s.listParam(z.enum(['state', 'note'])) }),
      body: s.DAGRunPatchBody,
      errors: [400, 404, 413],
      success: { status: 200, description: 'Successful Response', schema: s.DAGRunResponse },
      async handler({ params, query, body }) {
        const mask = query.update_mask ?? (Object.keys(body) as ('state' | 'note')[]);
        const patch: { state?: 'queued' | 'success' | 'failed'; note?: string | null } = {};
        if (mask.includes('state')) {
          if (body.state === undefined || body.state === null) {
            throw ApiError.validation([
              {
                loc: ['body', 'state'],
                msg: 'Input should be queued, success or failed',
                type: 'enum',
              },
            ]);
          }
          patch.state = body.state;
        }
        if (mask.includes('note')) patch.note = body.note ?? null;
        const run = await queries.patchDagRun(params.dag_id, params.dag_run_id, patch);
        if (!run) throw runNotFound(params.dag_id, params.dag_run_id);
        return { status: 200, body: dagRunResponse(run) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
      operationId: 'delete_dag_run',
      summary: 'Delete Dag Run',
      tags: ['DagRun'],
      params: s.dagRunParams,
      errors: [400, 404],
      success: { status: 204, description: 'Successful Response' },
      async handler({ params }) {
        if (!(await queries.deleteDagRun(params.dag_id, params.dag_run_id)))
          throw runNotFound(params.dag_id, params.dag_run_id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear',
      operationId: 'clear_dag_run',
      summary: 'Clear Dag Run',
      description:
        'dry_run (default true) lists the task instances that would be cleared; otherwise they get state null and max_tries raised by their retries, and the run is queued again.',
      tags: ['DagRun'],
      params: s.dagRunParams,
      body: s.DAGRunClearBody,
      errors: [404, 413],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: z
          .union([s.TaskInstanceCollectionResponse, s.DAGRunResponse])
          .openapi({ title: 'Response Clear Dag Run' }),
      },
      async handler({ params, body }) {
        await requireRun(params.dag_id, params.dag_run_id);
        if (body.dry_run) {
          const instances = await queries.taskInstancesToClear(
            params.dag_id,
            params.dag_run_id,
            body.only_failed,
          );
          return {
            status: 200,
            body: {
              task_instances: instances.map(taskInstanceResponse),
              total_entries: instances.length,
            },
          };
        }
        const run = await queries.clearDagRun(params.dag_id, params.dag_run_id, {
          onlyFailed: body.only_failed,
          retriesOf,
        });
        if (!run) throw runNotFound(params.dag_id, params.dag_run_id);
        return { status: 200, body: dagRunResponse(run) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/structure',
      operationId: 'get_dag_run_structure',
      summary: 'Structure of the version a run uses',
      description:
        'Ours: the task graph (`nodes`, `edges`) of the version the run was created with, served through the DAG cache.',
      tags: ['DagRun'],
      params: s.dagRunParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DagStructureResponse },
      async handler({ params }) {
        const entry = await dagBag.getForRun(params.dag_id, params.dag_run_id);
        if (!entry) throw runNotFound(params.dag_id, params.dag_run_id);
        return { status: 200, body: structureResponse(entry) };
      },
    }),

    // ---------------------------------------------------------------- task instances
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances',
      operationId: 'get_task_instances',
      summary: 'Get Task Instances',
      tags: ['Task Instance'],
      params: s.dagRunParams,
      query: z.object({
        ...s.pagination,
        task_id: z.string().optional(),
        state: s.listParam(TI_STATE_FILTER),
        try_number: s.listParam(s.integerParam),
        operator: s.listParam(z.string()),
        version_number: s.listParam(s.integerParam),
        order_by: s.orderByParam(TI_ORDER, 'map_index'),
      }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceCollectionResponse,
      },
      async handler({ params, query }) {
        await requireRun(params.dag_id, params.dag_run_id);
        const operatorFilter = query.operator?.map((name) =>
          name.replace(/Operator$/, '').toLowerCase(),
        );
        const page = await queries.listTaskInstances(params.dag_id, params.dag_run_id, {
          limit: query.limit,
          offset: query.offset,
          taskId: query.task_id,
          state: query.state?.map((state) =>
            state === 'no_status' || state === 'none' || state === 'null' ? null : state,
          ),
          tryNumber: query.try_number,
          operator: operatorFilter,
          versionNumber: query.version_number,
          orderBy: query.order_by as never,
        });
        return {
          status: 200,
          body: { task_instances: page.rows.map(taskInstanceResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}',
      operationId: 'get_task_instance',
      summary: 'Get Task Instance',
      tags: ['Task Instance'],
      params: s.taskInstanceParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.TaskInstanceResponse },
      async handler({ params }) {
        const ti = await queries.getTaskInstance(params.dag_id, params.dag_run_id, params.task_id);
        if (!ti) {
          throw ApiError.notFound(
            `The Task Instance with dag_id: \`${params.dag_id}\`, run_id: \`${params.dag_run_id}\`, task_id: \`${params.task_id}\` and map_index: \`-1\` was not found`,
          );
        }
        return { status: 200, body: taskInstanceResponse(ti) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}',
      operationId: 'get_log',
      summary: 'Get Log',
      description:
        "One try's log, a page at a time: pass the returned `continuation_token` as `token` to read on.",
      tags: ['Task Instance'],
      params: s.taskLogParams,
      query: z.object({
        full_content: s.booleanParam.default(false),
        map_index: s.integerParam.default(-1),
        token: z.string().max(200).optional(),
      }),
      errors: [400, 404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstancesLogResponse,
      },
      async handler({ params, query }) {
        // The path is checked before any lookup: an id that could leave the log folder is refused outright.
        const path = taskLogPath(ctx.logsDir, {
          dagId: params.dag_id,
          runId: params.dag_run_id,
          taskId: params.task_id,
          tryNumber: params.try_number,
        });
        const ti = await queries.getTaskInstance(
          params.dag_id,
          params.dag_run_id,
          params.task_id,
          query.map_index,
        );
        if (!ti) throw ApiError.notFound('TaskInstance not found');
        if (params.try_number > Math.max(ti.tryNumber, 1) && params.try_number !== 0) {
          throw ApiError.notFound(
            `Try ${params.try_number} of this task instance has not run (it is at try ${ti.tryNumber})`,
          );
        }
        const offset =
          query.full_content || query.token === undefined ? 0 : decodeToken(query.token);
        const page = await readLogPage(
          path,
          offset,
          query.full_content ? LOG_MAX_BYTES : LOG_PAGE_BYTES,
        );
        return {
          status: 200,
          body: {
            content: page.lines.map(structuredLogMessage),
            continuation_token: encodeToken(page.nextOffset),
          },
        };
      },
    }),
  ];
}
