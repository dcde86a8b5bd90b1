/**
 * Changes to task instances, as Airflow's task_instances routes make them: PATCH (set state with
 * upstream/downstream/past/future, note) and its dry run, bulk PATCH, DELETE, and
 * `POST /dags/{dag_id}/clearTaskInstances`. There are no mapped tasks: the `{map_index}` forms
 * find only map index -1.
 */
import type { Dag } from '@dagbag/dagbag';
import type { NewEvent, StateChange, TaskInstanceRow } from '@dagbag/db';
import type { Response } from 'express';
import { z } from 'zod';
import { apiEvent } from '../audit.ts';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { taskInstanceResponse } from '../serialize.ts';
import { downstreamOf, withRelatives } from '../task-relatives.ts';
import { dagNotFound, retriesOfTasks, type RouteContext } from './common.ts';

type PatchBody = z.output<typeof s.PatchTaskInstanceBody>;

const TI_PREFIX = '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances';

export const taskInstanceNotFound = (
  dagId: string,
  runId: string,
  taskId: string,
  mapIndex: number | null,
) =>
  ApiError.notFound(
    `The Task Instance with dag_id: \`${dagId}\`, run_id: \`${runId}\`, task_id: \`${taskId}\` and map_index: \`${mapIndex}\` was not found`,
  );

const patchQuery = z.object({
  map_index: s.int32Param.optional(),
  update_mask: s.listParam(z.string()),
});
const mapIndexQuery = z.object({ map_index: s.int32Param.default(-1) });

/** The fields a PATCH changes: those sent in the body, and also named in update_mask if given. */
function fieldsToUpdate(rawBody: unknown, updateMask: string[] | undefined) {
  const sent = new Set(rawBody !== null && typeof rawBody === 'object' ? Object.keys(rawBody) : []);
  const wanted = (field: 'new_state' | 'note') =>
    sent.has(field) && (updateMask === undefined || updateMask.includes(field));
  return { newState: wanted('new_state'), note: wanted('note') };
}

export function taskInstanceChangeRoutes({ queries, dagBag }: RouteContext): RouteDefinition[] {
  const retriesOf = retriesOfTasks(dagBag);

  async function latestDag(dagId: string): Promise<Dag> {
    const entry = await dagBag.getLatest(dagId);
    if (!entry) throw dagNotFound(dagId);
    return entry.dag;
  }

  interface PatchRequest {
    dagId: string;
    runId: string;
    taskId: string;
    /** Undefined: every map index (there is only -1). */
    mapIndex: number | undefined;
    body: PatchBody;
    fields: { newState: boolean; note: boolean };
    /** update_mask was given (then a note in the mask is written even when null). */
    masked: boolean;
    dryRun: boolean;
    /** The audit event, written with the change (none for a dry run). */
    event?: NewEvent;
  }

  /**
   * Airflow's `_patch_ti_validate_request` + `_patch_task_instance_state` / `_note`: the DAG and
   * task must exist in the latest version and the instance in the run; a new state reaches the
   * task's relatives and the runs before/after as asked, and then clears the task's failed
   * downstream in those runs so it can run again; 409 when every selected instance already was
   * in that state.
   * Returns the task's own instances afterwards (the dry run: what would change).
   */
  async function patchTaskInstance(request: PatchRequest): Promise<TaskInstanceRow[]> {
    const { dagId, runId, taskId, body } = request;
    const dag = await latestDag(dagId);
    if (!dag.tasks.has(taskId))
      throw ApiError.notFound(`Task '${taskId}' not found in DAG '${dagId}'`);
    const key = { dagId, runId, taskId, mapIndex: request.mapIndex ?? -1 };
    const current = await queries.getTaskInstance(dagId, runId, taskId, key.mapIndex);
    if (!current) throw taskInstanceNotFound(dagId, runId, taskId, request.mapIndex ?? null);
    const newState = request.fields.newState ? body.new_state : undefined;
    if (request.fields.newState && (newState === undefined || newState === null)) {
      throw ApiError.validation([
        {
          loc: ['body', 'new_state'],
          msg: "Value error, 'new_state' should not be empty",
          type: 'value_error',
        },
      ]);
    }
    let state: StateChange | undefined;
    if (newState) {
      const runIds = await queries.runsAround(dagId, runId, {
        past: body.include_past,
        future: body.include_future,
      });
      const selection = {
        dagId,
        runIds: runIds ?? [runId],
        taskIds: withRelatives(dag, [taskId], {
          upstream: body.include_upstream,
          downstream: body.include_downstream,
        }),
      };
      if (request.dryRun) return queries.taskInstancesToSet(selection, newState);
      state = {
        selection,
        state: newState,
        resumeTaskIds: [...downstreamOf(dag, [taskId])],
        retriesOf,
      };
    }
    if (!request.dryRun) {
      const note =
        request.fields.note && (request.masked || body.note != null)
          ? { note: body.note ?? null }
          : undefined;
      // State, note and audit event in one transaction: an answer other than 200 means no change.
      const outcome = await queries.patchTaskInstances(key, { state, note }, request.event);
      if (outcome === 'unchanged')
        throw new ApiError('CONFLICT', `Task id ${taskId} is already in ${newState} state`);
      // Deleted by a request that committed between the read above and this change.
      if (outcome === 'not_found')
        throw taskInstanceNotFound(dagId, runId, taskId, request.mapIndex ?? null);
    }
    const after = await queries.getTaskInstance(dagId, runId, taskId, key.mapIndex);
    return after ? [after] : [];
  }

  /** The audit event of a change to the task instance(s) `ti`, by the caller of this request. */
  const eventOf = (
    res: Response,
    event: string,
    ti: { dagId: string; runId: string; taskId?: string; mapIndex?: number },
    extra: Record<string, unknown>,
  ): NewEvent =>
    apiEvent(res, {
      event,
      dagId: ti.dagId,
      runId: ti.runId,
      taskId: ti.taskId ?? null,
      mapIndex: ti.mapIndex ?? null,
      extra,
    });

  const patchRoute = (options: { byMapIndex: boolean; dryRun: boolean }) =>
    defineRoute({
      method: 'patch',
      path: `${TI_PREFIX}/{task_id}${options.byMapIndex ? '/{map_index}' : ''}${options.dryRun ? '/dry_run' : ''}`,
      operationId: `patch_task_instance${options.dryRun ? '_dry_run' : ''}${options.byMapIndex ? '_by_map_index' : ''}`,
      summary: options.dryRun ? 'Patch Task Instance Dry Run' : 'Patch Task Instance',
      description: options.dryRun
        ? 'What the same PATCH would change, without changing anything.'
        : "Sets the state (success, failed, skipped; with the task's upstream/downstream and the runs before/after as asked, then clears its failed downstream so it can resume) and/or the note. `update_mask` limits the change to the fields it names.",
      tags: ['Task Instance'],
      params: options.byMapIndex ? s.taskInstanceMapParams : s.taskInstanceParams,
      query: options.byMapIndex ? z.object({ update_mask: s.listParam(z.string()) }) : patchQuery,
      body: s.PatchTaskInstanceBody,
      errors: options.dryRun ? [400, 404] : [400, 404, 409],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceCollectionResponse,
      },
      async handler({ params, query, body, req, res }) {
        // The path's {map_index} in the by-map-index form, else the optional query parameter.
        const mapIndex =
          (params as { map_index?: number }).map_index ??
          (query as z.output<typeof patchQuery>).map_index;
        const tis = await patchTaskInstance({
          dagId: params.dag_id,
          runId: params.dag_run_id,
          taskId: params.task_id,
          mapIndex,
          body,
          fields: fieldsToUpdate(req.body, query.update_mask),
          masked: query.update_mask !== undefined,
          dryRun: options.dryRun,
          event: eventOf(
            res,
            'patch_task_instance',
            { dagId: params.dag_id, runId: params.dag_run_id, taskId: params.task_id, mapIndex },
            { ...body, update_mask: query.update_mask ?? null },
          ),
        });
        return {
          status: 200,
          body: { task_instances: tis.map(taskInstanceResponse), total_entries: tis.length },
        };
      },
    });

  return [
    patchRoute({ byMapIndex: false, dryRun: true }),
    patchRoute({ byMapIndex: true, dryRun: true }),
    patchRoute({ byMapIndex: false, dryRun: false }),
    patchRoute({ byMapIndex: true, dryRun: false }),
    defineRoute({
      method: 'patch',
      path: TI_PREFIX,
      operationId: 'bulk_task_instances',
      summary: 'Bulk Task Instances',
      description:
        'Bulk update (as PATCH of each) and delete of task instances; create is not supported. Each action reports its successes and errors. Each instance is changed in its own transaction, with its own audit event (`bulk_task_instances`, naming the instance): one that fails leaves the others as done.',
      tags: ['Task Instance'],
      params: s.dagRunParams,
      body: s.BulkBodyTaskInstances,
      success: { status: 200, description: 'Successful Response', schema: s.BulkResponse },
      async handler({ params, body, res }) {
        const { dag_id: dagId, dag_run_id: runId } = params;
        type Results = { success: string[]; errors: Record<string, unknown>[] };
        const results: Record<'create' | 'update' | 'delete', Results | null> = {
          create: null,
          update: null,
          delete: null,
        };
        const name = (taskId: string, mapIndex: number) =>
          `${dagId}.${runId}.${taskId}[${mapIndex}]`;
        const failure = (error: unknown) => {
          if (!(error instanceof ApiError)) throw error;
          return { error: error.message, status_code: error.status };
        };
        for (const action of body.actions) {
          const result = (results[action.action] ??= { success: [], errors: [] });
          if (action.action === 'create') {
            result.errors.push({
              error: 'Task instances bulk create is not supported',
              status_code: 405,
            });
          } else if (action.action === 'update') {
            for (const entity of action.entities) {
              const mapIndex = entity.map_index ?? undefined;
              try {
                await patchTaskInstance({
                  dagId,
                  runId,
                  taskId: entity.task_id,
                  mapIndex,
                  body: entity,
                  fields: fieldsToUpdate(entity, undefined),
                  masked: false,
                  dryRun: false,
                  // The instance as the entity names it (map_index null unless given), as the
                  // single PATCH records it.
                  event: eventOf(
                    res,
                    'bulk_task_instances',
                    { dagId, runId, taskId: entity.task_id, mapIndex },
                    { action: 'update', entity },
                  ),
                });
                result.success.push(name(entity.task_id, mapIndex ?? -1));
              } catch (error) {
                const missing =
                  error instanceof ApiError &&
                  error.status === 404 &&
                  action.action_on_non_existence === 'skip';
                if (!missing) result.errors.push(failure(error));
              }
            }
          } else {
            const missing: { task_id: string; map_index: number }[] = [];
            for (const entity of action.entities) {
              const taskId = typeof entity === 'string' ? entity : entity.task_id;
              const mapIndex = typeof entity === 'string' ? -1 : (entity.map_index ?? -1);
              const named = typeof entity === 'string' ? undefined : entity.map_index;
              const event = eventOf(
                res,
                'bulk_task_instances',
                { dagId, runId, taskId, mapIndex: named ?? undefined },
                { action: 'delete' },
              );
              if (await queries.deleteTaskInstance({ dagId, runId, taskId, mapIndex }, event))
                result.success.push(name(taskId, mapIndex));
              else missing.push({ task_id: taskId, map_index: mapIndex });
            }
            if (missing.length > 0 && action.action_on_non_existence === 'fail')
              result.errors.push({
                error: `The task instances with these identifiers: ${JSON.stringify(missing.map((m) => ({ dag_id: dagId, dag_run_id: runId, ...m })))} were not found`,
                status_code: 404,
              });
          }
        }
        return { status: 200, body: results };
      },
    }),
    defineRoute({
      method: 'delete',
      path: `${TI_PREFIX}/{task_id}`,
      operationId: 'delete_task_instance',
      summary: 'Delete Task Instance',
      description: 'Deletes the task instance and the history of its tries.',
      tags: ['Task Instance'],
      params: s.taskInstanceParams,
      query: mapIndexQuery,
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: z.null().openapi({ title: 'Response Delete Task Instance' }),
      },
      async handler({ params, query, res }) {
        const key = {
          dagId: params.dag_id,
          runId: params.dag_run_id,
          taskId: params.task_id,
          mapIndex: query.map_index,
        };
        // The event is written in the deletion's transaction: an answer other than 200 means none.
        const event = eventOf(res, 'delete_task_instance', key, {});
        if (!(await queries.deleteTaskInstance(key, event)))
          throw taskInstanceNotFound(key.dagId, key.runId, key.taskId, key.mapIndex);
        return { status: 200, body: null };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v2/dags/{dag_id}/clearTaskInstances',
      operationId: 'post_clear_task_instances',
      summary: 'Post Clear Task Instances',
      description:
        'Clears task instances (state null, one more try allowed; their runs queued again with `reset_dag_runs`) chosen by run (`dag_run_id`, or logical-date bounds), `task_ids` with their relatives, and `only_failed` / `only_running`. `dry_run` (default true) only lists them.',
      tags: ['Task Instance'],
      params: s.dagIdParam,
      body: s.ClearTaskInstancesBody,
      errors: [400, 404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceCollectionResponse,
      },
      async handler({ params, body, res }) {
        const dagId = params.dag_id;
        const past = body.include_past;
        const future = body.include_future;
        let dag: Dag;
        let start = body.start_date ?? undefined;
        let end = body.end_date ?? undefined;
        if (body.dag_run_id != null) {
          const run = await queries.getDagRun(dagId, body.dag_run_id);
          if (!run)
            throw ApiError.notFound(`Dag Run id ${body.dag_run_id} not found in dag ${dagId}`);
          const entry = await dagBag.getForRun(dagId, body.dag_run_id);
          dag = entry?.dag ?? (await latestDag(dagId));
          if ((past || future) && run.logicalDate === null)
            throw new ApiError(
              'BAD_REQUEST',
              'Cannot use include_past or include_future with no logical_date(e.g. manually or asset-triggered).',
            );
          start = run.logicalDate ?? undefined;
          end = run.logicalDate ?? undefined;
        } else {
          dag = await latestDag(dagId);
        }
        if (past) start = undefined;
        if (future) end = undefined;
        let taskIds: string[] | undefined;
        if (body.task_ids != null) {
          // Tasks are never mapped: (task_id, -1) is the task, other map indexes match nothing.
          const named = body.task_ids.flatMap((item) =>
            typeof item === 'string' ? [item] : item[1] === -1 ? [item[0]] : [],
          );
          taskIds = withRelatives(dag, named, {
            upstream: body.include_upstream,
            downstream: body.include_downstream,
          });
        }
        const byRun = body.dag_run_id != null && !past && !future;
        const selection = {
          dagId,
          runIds: byRun ? [body.dag_run_id as string] : undefined,
          logicalDate: byRun ? undefined : { gte: start, lte: end },
          taskIds,
          onlyFailed: body.only_failed,
          onlyRunning: body.only_running,
        };
        const instances = body.dry_run
          ? await queries.taskInstancesToClearAcross(selection)
          : // The event is written in the clear's transaction: an answer other than 200 means
            // nothing was cleared.
            await queries.clearTaskInstancesAcross(
              selection,
              { retriesOf, resetRuns: body.reset_dag_runs },
              (cleared) =>
                apiEvent(res, {
                  event: 'post_clear_task_instances',
                  dagId,
                  runId: body.dag_run_id ?? null,
                  extra: { ...body, cleared: cleared.length },
                }),
            );
        return {
          status: 200,
          body: {
            task_instances: instances.map(taskInstanceResponse),
            total_entries: instances.length,
          },
        };
      },
    }),
  ];
}
