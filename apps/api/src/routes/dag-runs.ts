/** DAG runs: listing, trigger, one run, patch, delete, clear, structure of its version. */
import type { DagRunSortColumn, RetriesOf } from '@dagbag/db';
import { z } from 'zod';
import { recordApiEvent } from '../audit.ts';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagRunResponse, structureResponse, taskInstanceResponse } from '../serialize.ts';
import { dagNotFound, range, requireRun, runNotFound, type RouteContext } from './common.ts';

const RUN_ORDER = {
  id: 'id',
  dag_run_id: 'run_id',
  run_id: 'run_id',
  state: 'state',
  logical_date: 'logical_date',
  run_after: 'run_after',
  start_date: 'start_date',
  end_date: 'end_date',
  queued_at: 'queued_at',
  updated_at: 'updated_at',
} as const satisfies Record<string, DagRunSortColumn>;

/** Airflow names a run after the moment it was triggered: `manual__2026-01-01T00:00:00+00:00`. */
function generatedRunId(runAfter: Date): string {
  return `manual__${runAfter.toISOString().replace('Z', '+00:00')}`;
}

export function dagRunRoutes({ queries, dagBag }: RouteContext): RouteDefinition[] {
  /** Retries of a task in the version its instance uses, read through the DAG cache. */
  const retriesOf: RetriesOf = async (versionId, taskId) => {
    if (versionId === null) return undefined;
    const entry = await dagBag.get(versionId);
    return entry?.dag.tasks.get(taskId)?.retries;
  };

  return [
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
          orderBy: query.order_by,
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
      async handler({ params, body, res }) {
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
        await recordApiEvent(queries, res, {
          event: 'trigger_dag_run',
          dagId: run.dagId,
          runId: run.runId,
          logicalDate: run.logicalDate,
          extra: body,
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
          body: dagRunResponse(await requireRun(queries, params.dag_id, params.dag_run_id)),
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
      async handler({ params, query, body, res }) {
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
        await recordApiEvent(queries, res, {
          event: 'patch_dag_run',
          dagId: run.dagId,
          runId: run.runId,
          logicalDate: run.logicalDate,
          extra: { ...body, update_mask: mask },
        });
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
      async handler({ params, res }) {
        if (!(await queries.deleteDagRun(params.dag_id, params.dag_run_id)))
          throw runNotFound(params.dag_id, params.dag_run_id);
        await recordApiEvent(queries, res, {
          event: 'delete_dag_run',
          dagId: params.dag_id,
          runId: params.dag_run_id,
        });
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
      async handler({ params, body, res }) {
        await requireRun(queries, params.dag_id, params.dag_run_id);
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
        await recordApiEvent(queries, res, {
          event: 'clear_dag_run',
          dagId: run.dagId,
          runId: run.runId,
          logicalDate: run.logicalDate,
          extra: body,
        });
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
  ];
}
