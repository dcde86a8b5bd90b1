/** DAG runs: listing, trigger, one run, patch, delete, clear, structure of its version. */
import { randomInt } from 'node:crypto';
import {
  DagRunParentGoneError,
  DuplicateDagRunError,
  type DagRunSortColumn,
  type DagRunRow,
  type ChangeEvent,
  type NewDagRun,
} from '@dagbag/db';
import { z } from 'zod';
import { manualDataInterval, removeRunLogs, runIdProblem, scheduleTimezone } from '@dagbag/dagbag';
import { apiEvent } from '../audit.ts';
import { actorOf } from '../auth.ts';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagRunResponse, renderStructure, taskInstanceResponse } from '../serialize.ts';
import {
  dagNotFound,
  range,
  runDateRanges,
  requireRun,
  retriesOfTasks,
  runNotFound,
  type RouteContext,
} from './common.ts';

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
  dag_id: 'dag_id',
  duration: 'duration',
  conf: 'conf',
} as const satisfies Record<string, DagRunSortColumn>;

/** Python's `datetime.isoformat()` of a UTC instant, as Airflow writes it into run ids. */
function pythonIsoformat(date: Date): string {
  const iso = date.toISOString();
  return date.getUTCMilliseconds() === 0
    ? iso.replace(/\.000Z$/, '+00:00')
    : iso.replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Airflow's `get_random_string()`: 8 letters or digits (62^8 values). */
function randomSuffix(): string {
  let suffix = '';
  for (let i = 0; i < 8; i++) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return suffix;
}

/**
 * Airflow's `DagRun.generate_run_id` for a manual run: `manual__<logical_date>` when there is one
 * (a second run for it is refused anyway), else `manual__<run_after>_<random>`. `salted` adds the
 * random part to a logical-date id too: the retry when a client named some other run that way.
 */
export function generatedRunId(logicalDate: Date | null, runAfter: Date, salted = false): string {
  const base = `manual__${pythonIsoformat(logicalDate ?? runAfter)}`;
  return logicalDate !== null && !salted ? base : `${base}_${randomSuffix()}`;
}

/** Attempts at a free generated run id before giving up (each collision has odds of 62^-8). */
const GENERATED_ID_ATTEMPTS = 5;

export function dagRunRoutes({ queries, dagBag, logsDir }: RouteContext): RouteDefinition[] {
  const retriesOf = retriesOfTasks(dagBag);

  /**
   * Creates the run; a client that named no run id is never refused for an id it did not choose.
   */
  async function createRun(
    newRun: NewDagRun,
    idGenerated: boolean,
    event: ChangeEvent<DagRunRow>,
  ): Promise<DagRunRow> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await queries.createDagRun(newRun, dagBag, event);
      } catch (error) {
        const generatedIdTaken =
          idGenerated &&
          error instanceof DuplicateDagRunError &&
          error.conflict === 'run_id' &&
          attempt < GENERATED_ID_ATTEMPTS;
        if (!generatedIdTaken) throw error;
        newRun.runId = generatedRunId(newRun.logicalDate, newRun.runAfter, true);
      }
    }
  }

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
        run_type: s.listParam(z.union([s.DagRunType, s.NO_VALUE])),
        state: s.listParam(z.union([s.DagRunState, s.NO_VALUE])),
        order_by: s.orderByParam(RUN_ORDER, 'id'),
        run_id_pattern: z.string().optional().openapi({
          description:
            'A case-insensitive substring of the run id (SQL `ILIKE %value%`); `%` and `_` are wildcards inside it, `~` alone matches every run.',
        }),
        triggering_user_name_pattern: z.string().optional().openapi({
          description:
            'A case-insensitive substring of `triggering_user_name` (the caller that triggered the run); `%` and `_` are wildcards. Runs the scheduler created have none.',
        }),
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
          ...runDateRanges(dates),
          unsetDatesAsNow: true,
          updatedAt: range(dates, 'updated_at'),
          runType: query.run_type,
          state: query.state,
          runIdPattern: query.run_id_pattern,
          triggeringUserNamePattern: query.triggering_user_name_pattern,
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
        'Creates a queued manual run on the latest version of the DAG (read through the DAG cache) with its task instances, state null, as Airflow: they can be listed, patched and cleared before the scheduler starts the run. `triggering_user_name` is the caller: the name of its `name:token` entry in `API_AUTH_TOKENS`, else `token:` and the first 12 hex digits of the sha256 of its token (the event log\'s `owner`). A `dag_run_id` or `logical_date` the DAG already has a run for answers 409 with Airflow\'s unique-violation detail: `{"reason": "Unique constraint violation", "statement": "hidden", "orig_error": "hidden", "message": ...}`, `message` naming the key that is taken.',
      tags: ['DagRun'],
      params: s.dagIdParam,
      body: s.TriggerDAGRunPostBody,
      errors: [400, 404, 409, 413],
      success: { status: 200, description: 'Successful Response', schema: s.DAGRunResponse },
      async handler({ params, body, res }) {
        // As Airflow: a stale DAG (its file is gone) is not found; one whose file is broken is
        // refused.
        const dag = await queries.getDag(params.dag_id);
        if (!dag || dag.isStale)
          throw ApiError.notFound(`DAG with dag_id: '${params.dag_id}' not found`);
        if (dag.hasImportErrors)
          throw new ApiError(
            'BAD_REQUEST',
            `DAG with dag_id: '${params.dag_id}' has import errors and cannot be triggered`,
          );
        const latest = await dagBag.getLatest(params.dag_id);
        if (!latest) throw dagNotFound(params.dag_id);
        const now = new Date();
        let runAfter = body.run_after ?? now;
        // As Airflow's validate_context: a data interval belongs to a logical date; a run without
        // one has none, whatever the body says.
        const withLogicalDate = body.logical_date !== null;
        let dataIntervalStart = withLogicalDate ? (body.data_interval_start ?? null) : null;
        let dataIntervalEnd = withLogicalDate ? (body.data_interval_end ?? null) : null;
        // Airflow's validate_context: a logical date without a data interval gets the one the
        // DAG's timetable infers, and run_after is its end (the scheduler's timetable: exactly the
        // logical date without a schedule, the last complete cron interval with one).
        if (body.logical_date !== null && dataIntervalStart === null) {
          const { document } = latest.dag;
          const inferred = manualDataInterval(
            document.schedule,
            scheduleTimezone(document),
            body.logical_date,
          );
          dataIntervalStart = inferred.start;
          dataIntervalEnd = runAfter = inferred.end;
        }
        // Checked at the door: the executor could not use such an id as a log folder.
        const problem = body.dag_run_id == null ? undefined : runIdProblem(body.dag_run_id);
        if (problem) throw new ApiError('BAD_REQUEST', problem);
        const newRun: NewDagRun = {
          dagId: params.dag_id,
          runId: body.dag_run_id ?? generatedRunId(body.logical_date, runAfter),
          logicalDate: body.logical_date,
          runAfter,
          dataIntervalStart,
          dataIntervalEnd,
          conf: body.conf ?? {},
          note: body.note ?? null,
          createdDagVersionId: latest.versionId,
          queuedAt: now,
          triggeringUserName: actorOf(res),
        };
        // The audit event is written in the run's transaction: an answer other than 200 means
        // that no run was created, so a client may retry.
        const run = await createRun(newRun, body.dag_run_id == null, (created) =>
          apiEvent(res, {
            event: 'trigger_dag_run',
            dagId: created.dagId,
            runId: created.runId,
            logicalDate: created.logicalDate,
            extra: body,
          }),
        ).catch((error: unknown) => {
          // The DAG was deleted between the checks above and the run's insert: as if after it.
          if (error instanceof DagRunParentGoneError)
            throw ApiError.notFound(`DAG with dag_id: '${params.dag_id}' not found`);
          throw error;
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
        // As Airflow: only fields both sent in the body and named in update_mask (if given) change;
        // a state of null changes nothing.
        const sent = (field: 'state' | 'note') =>
          Object.hasOwn(body, field) && (query.update_mask?.includes(field) ?? true);
        const patch: { state?: 'queued' | 'success' | 'failed'; note?: string | null } = {};
        if (sent('state') && body.state != null) patch.state = body.state;
        if (sent('note')) patch.note = body.note ?? null;
        // The event is written in the change's transaction: an answer other than 200, no change.
        const run = await queries.patchDagRun(params.dag_id, params.dag_run_id, patch, (changed) =>
          apiEvent(res, {
            event: 'patch_dag_run',
            dagId: changed.dagId,
            runId: changed.runId,
            logicalDate: changed.logicalDate,
            extra: { ...body, update_mask: mask },
          }),
        );
        if (!run) throw runNotFound(params.dag_id, params.dag_run_id);
        return { status: 200, body: dagRunResponse(run) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
      operationId: 'delete_dag_run',
      summary: 'Delete Dag Run',
      description:
        "Deletes the run, its task instances with their tries' history, and its log files (the event log keeps the deletion). A try still running is stopped at its scheduler's next heartbeat.",
      tags: ['DagRun'],
      params: s.dagRunParams,
      errors: [400, 404],
      success: { status: 204, description: 'Successful Response' },
      async handler({ params, req, res }) {
        const event = apiEvent(res, {
          event: 'delete_dag_run',
          dagId: params.dag_id,
          runId: params.dag_run_id,
        });
        if (!(await queries.deleteDagRun(params.dag_id, params.dag_run_id, event)))
          throw runNotFound(params.dag_id, params.dag_run_id);
        // A run re-created under this id must start with empty logs, not the deleted run's.
        // The run is gone either way: a log folder that cannot be removed is logged, not a 500.
        await removeRunLogs(logsDir, { dagId: params.dag_id, runId: params.dag_run_id }).catch(
          (error: unknown) =>
            req.log?.warn({ err: error }, "the deleted run's logs were not removed"),
        );
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
        const run = await queries.clearDagRun(
          params.dag_id,
          params.dag_run_id,
          { onlyFailed: body.only_failed, retriesOf },
          (cleared) =>
            apiEvent(res, {
              event: 'clear_dag_run',
              dagId: cleared.dagId,
              runId: cleared.runId,
              logicalDate: cleared.logicalDate,
              extra: body,
            }),
        );
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
        'Ours: the task graph (`nodes`, `edges`) of the version the run was created with, served through the DAG cache. The answer carries a strong `ETag`; with a matching `If-None-Match` it is `304 Not Modified` without a body.',
      tags: ['DagRun'],
      params: s.dagRunParams,
      conditional: true,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DagStructureResponse },
      async handler({ params }) {
        const entry = await dagBag.getForRun(params.dag_id, params.dag_run_id);
        if (!entry) throw runNotFound(params.dag_id, params.dag_run_id);
        // The version's bytes, serialized once per cached version (see get_dag_version_structure).
        const { bytes, etag } = entry.rendered ?? renderStructure(entry);
        return { status: 200, body: bytes, etag };
      },
    }),
  ];
}
