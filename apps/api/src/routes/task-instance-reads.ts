/**
 * Reads of task instances beyond the run's listing: the batch listing across DAGs and runs, the
 * tries of an instance (task_instance_history plus the current try), why an instance is not
 * running (dependencies), and the `{map_index}` forms (there are no mapped tasks: only -1 exists).
 * Registered after the literal paths (`/tries`, `/dependencies`, `/logs/...`) they could shadow.
 */
import type { Dag } from '@dagbag/dagbag';
import type { TaskInstanceDependencyFacts, TaskInstanceSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { taskInstanceHistoryResponse, taskInstanceResponse } from '../serialize.ts';
import { listFilter, placementSelectsNothing, runDateRanges, type RouteContext } from './common.ts';
import { taskInstanceNotFound } from './task-instance-changes.ts';

const TI_PREFIX = '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances';

/** Airflow's batch order_by names (one key, optionally `-`-prefixed). */
const BATCH_ORDER: Readonly<Record<string, TaskInstanceSortColumn>> = {
  id: 'id',
  state: 'state',
  duration: 'duration',
  start_date: 'start_date',
  end_date: 'end_date',
  map_index: 'map_index',
  try_number: 'try_number',
  logical_date: 'logical_date',
  run_after: 'run_after',
  task_id: 'task_id',
  operator: 'operator',
  data_interval_start: 'data_interval_start',
  data_interval_end: 'data_interval_end',
  // No instance has a rendered map index: Airflow then orders by map_index.
  rendered_map_index: 'map_index',
};

const FINISHED = new Set(['success', 'failed', 'upstream_failed', 'skipped', 'removed']);

/** Airflow's TriggerRuleDep: is the rule met by these upstream states, and if not, why. */
function triggerRuleFailure(
  rule: string,
  upstream: readonly string[],
  states: ReadonlyMap<string, string | null>,
): string | null {
  if (upstream.length === 0) return null;
  const list = upstream.map((id) => states.get(id) ?? null);
  const count = (test: (state: string | null) => boolean) => list.filter(test).length;
  const counts = {
    success: count((st) => st === 'success'),
    skipped: count((st) => st === 'skipped'),
    failed: count((st) => st === 'failed'),
    upstream_failed: count((st) => st === 'upstream_failed'),
    removed: count((st) => st === 'removed'),
    done: count((st) => st !== null && FINISHED.has(st)),
  };
  const failed = counts.failed + counts.upstream_failed;
  const n = upstream.length;
  const detail = `upstream_states=${JSON.stringify(counts)}, upstream_task_ids=${JSON.stringify(upstream)}`;
  switch (rule) {
    case 'all_success':
      return counts.success === n
        ? null
        : `Task's trigger rule 'all_success' requires all upstream tasks to have succeeded, but found ${n - counts.success} non-success(es). ${detail}`;
    case 'all_done':
      return counts.done === n
        ? null
        : `Task's trigger rule 'all_done' requires all upstream tasks to have completed, but found ${n - counts.done} task(s) that were not done. ${detail}`;
    case 'one_success':
      return counts.success > 0
        ? null
        : `Task's trigger rule 'one_success' requires one upstream task success, but none were found. ${detail}`;
    case 'one_failed':
      return failed > 0
        ? null
        : `Task's trigger rule 'one_failed' requires one upstream task failure, but none were found. ${detail}`;
    case 'none_failed':
      return counts.done === n && failed === 0
        ? null
        : `Task's trigger rule 'none_failed' requires all upstream tasks to have succeeded or been skipped, but found ${n - counts.done} task(s) not done and ${failed} failure(s). ${detail}`;
    default:
      return `Task's trigger rule '${rule}' is not known to this server. ${detail}`;
  }
}

/** The dependencies that keep a task instance (state null or scheduled) from running now. */
function failedDependencies(
  dag: Dag,
  ti: { dagId: string; taskId: string; state: string | null },
  facts: TaskInstanceDependencyFacts,
): { name: string; reason: string }[] {
  const deps: { name: string; reason: string }[] = [];
  if (facts.runState !== 'running')
    deps.push({
      name: 'Dagrun Running',
      reason: `Task instance's dagrun was not in the 'running' state but in the state '${facts.runState}'.`,
    });
  if (facts.isPaused)
    deps.push({ name: 'Dag Not Paused', reason: `Task's DAG '${ti.dagId}' is paused.` });
  const task = dag.tasks.get(ti.taskId);
  if (task && ti.state === null) {
    const reason = triggerRuleFailure(task.triggerRule, task.upstream, facts.upstreamStates);
    if (reason !== null) deps.push({ name: 'Trigger Rule', reason });
  }
  if (ti.state === 'scheduled' && deps.length === 0 && facts.runActiveTasks >= facts.maxActiveTasks)
    deps.push({
      name: 'Task Instance Slots Available',
      reason: `The maximum number of running tasks (${facts.maxActiveTasks}) for this task's DAG '${ti.dagId}' has been reached in its run.`,
    });
  if (ti.state === 'scheduled' && deps.length === 0)
    deps.push({
      name: 'Executor Slots Available',
      reason: `The task is ready and waits for a scheduler to give it an executor slot (SCHEDULER_PARALLELISM per scheduler); ${facts.activeTasks} task instance(s) are queued or running now.`,
    });
  return deps.sort((a, b) => a.name.localeCompare(b.name));
}

const tryNotFound = (
  dagId: string,
  runId: string,
  taskId: string,
  tryNumber: number,
  mapIndex: number,
) =>
  ApiError.notFound(
    `The Task Instance with dag_id: \`${dagId}\`, run_id: \`${runId}\`, task_id: \`${taskId}\`, try_number: \`${tryNumber}\` and map_index: \`${mapIndex}\` was not found`,
  );

export function taskInstanceReadRoutes({ queries, dagBag }: RouteContext): RouteDefinition[] {
  async function tries(dagId: string, runId: string, taskId: string, mapIndex: number) {
    const rows = await queries.listTaskInstanceTries({ dagId, runId, taskId, mapIndex });
    if (rows.length === 0) throw taskInstanceNotFound(dagId, runId, taskId, mapIndex);
    return {
      status: 200,
      body: {
        task_instances: rows.map(taskInstanceHistoryResponse),
        total_entries: rows.length,
      },
    };
  }

  async function oneTry(
    dagId: string,
    runId: string,
    taskId: string,
    mapIndex: number,
    tryNumber: number,
  ) {
    const row = await queries.getTaskInstanceTry({ dagId, runId, taskId, mapIndex }, tryNumber);
    if (!row) throw tryNotFound(dagId, runId, taskId, tryNumber, mapIndex);
    return { status: 200, body: taskInstanceHistoryResponse(row) };
  }

  async function dependencies(dagId: string, runId: string, taskId: string, mapIndex: number) {
    const ti = await queries.getTaskInstance(dagId, runId, taskId, mapIndex);
    if (!ti) throw taskInstanceNotFound(dagId, runId, taskId, mapIndex);
    let deps: { name: string; reason: string }[] = [];
    // As Airflow: only an instance waiting to run (no state yet, or scheduled) has blockers.
    if (ti.state === null || ti.state === 'scheduled') {
      const entry = await dagBag.getForRun(dagId, runId);
      const task = entry?.dag.tasks.get(taskId);
      if (entry && task) {
        const facts = await queries.taskInstanceDependencyFacts(
          { dagId, runId, taskId, mapIndex },
          task.upstream,
        );
        if (facts) deps = failedDependencies(entry.dag, ti, facts);
      }
    }
    return { status: 200, body: { dependencies: deps } };
  }

  const listResponse = {
    status: 200,
    description: 'Successful Response',
    schema: s.TaskInstanceCollectionResponse,
  };

  return [
    defineRoute({
      method: 'post',
      path: `${TI_PREFIX}/list`,
      operationId: 'get_task_instances_batch',
      summary: 'Get Task Instances Batch',
      description:
        'Task instances across DAGs and runs (both path ids must be `~`), filtered by the body.',
      tags: ['Task Instance'],
      params: z.object({
        dag_id: z.literal('~'),
        dag_run_id: z.literal('~'),
      }),
      body: s.TaskInstancesBatchBody,
      errors: [404],
      success: listResponse,
      async handler({ body }) {
        const order = body.order_by ?? 'map_index';
        const column = BATCH_ORDER[order.replace(/^-/, '')];
        if (column === undefined)
          throw new ApiError(
            'BAD_REQUEST',
            `Ordering with '${order}' is disallowed or the attribute does not exist on the model`,
          );
        const matchesNone = placementSelectsNothing(body);
        const dates = body as unknown as Record<string, Date | undefined>;
        const duration = {
          gte: body.duration_gte ?? undefined,
          gt: body.duration_gt ?? undefined,
          lte: body.duration_lte ?? undefined,
          lt: body.duration_lt ?? undefined,
        };
        const page = await queries.listTaskInstancesAcross({
          limit: body.page_limit,
          offset: body.page_offset,
          dagIds: matchesNone ? [] : listFilter(body.dag_ids),
          runIds: listFilter(body.dag_run_ids),
          taskIds: listFilter(body.task_ids),
          state: listFilter(body.state),
          ...runDateRanges(dates),
          duration,
          orderBy: [{ column, descending: order.startsWith('-') }],
        });
        return {
          status: 200,
          body: { task_instances: page.rows.map(taskInstanceResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/listMapped`,
      operationId: 'get_mapped_task_instances',
      summary: 'Get Mapped Task Instances',
      description: 'There are no mapped tasks: a task of the DAG answers 404 "is not mapped".',
      tags: ['Task Instance'],
      params: s.taskInstanceParams,
      errors: [404],
      success: listResponse,
      async handler({ params }) {
        const entry = await dagBag.getForRun(params.dag_id, params.dag_run_id);
        const dag = entry?.dag ?? (await dagBag.getLatest(params.dag_id))?.dag;
        if (!dag?.tasks.has(params.task_id))
          throw ApiError.notFound(`Task id ${params.task_id} not found`);
        throw ApiError.notFound(`Task id ${params.task_id} is not mapped`);
      },
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/dependencies`,
      operationId: 'get_task_instance_dependencies',
      summary: 'Get Task Instance Dependencies',
      description:
        "Why the instance is not running yet: its run not running, its DAG paused, its trigger rule not met by the upstream states, its run at its DAG's max_active_tasks, or a ready task waiting for an executor slot.",
      tags: ['Task Instance'],
      params: s.taskInstanceParams,
      query: z.object({ map_index: s.int32Param.default(-1) }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskDependencyCollectionResponse,
      },
      handler: ({ params, query }) =>
        dependencies(params.dag_id, params.dag_run_id, params.task_id, query.map_index),
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/tries`,
      operationId: 'get_task_instance_tries',
      summary: 'Get Task Instance Tries',
      description:
        'Every try: the earlier ones as they ended (retried or cleared), then the current one.',
      tags: ['Task Instance'],
      params: s.taskInstanceParams,
      query: z.object({ map_index: s.int32Param.default(-1) }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceHistoryCollectionResponse,
      },
      handler: ({ params, query }) =>
        tries(params.dag_id, params.dag_run_id, params.task_id, query.map_index),
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/tries/{task_try_number}`,
      operationId: 'get_task_instance_try_details',
      summary: 'Get Task Instance Try Details',
      tags: ['Task Instance'],
      params: s.taskTryParams,
      query: z.object({ map_index: s.int32Param.default(-1) }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceHistoryResponse,
      },
      handler: ({ params, query }) =>
        oneTry(
          params.dag_id,
          params.dag_run_id,
          params.task_id,
          query.map_index,
          params.task_try_number,
        ),
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/{map_index}/dependencies`,
      operationId: 'get_task_instance_dependencies_by_map_index',
      summary: 'Get Task Instance Dependencies',
      tags: ['Task Instance'],
      params: s.taskInstanceMapParams,
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskDependencyCollectionResponse,
      },
      handler: ({ params }) =>
        dependencies(params.dag_id, params.dag_run_id, params.task_id, params.map_index),
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/{map_index}/tries`,
      operationId: 'get_mapped_task_instance_tries',
      summary: 'Get Mapped Task Instance Tries',
      tags: ['Task Instance'],
      params: s.taskInstanceMapParams,
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceHistoryCollectionResponse,
      },
      handler: ({ params }) =>
        tries(params.dag_id, params.dag_run_id, params.task_id, params.map_index),
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/{map_index}/tries/{task_try_number}`,
      operationId: 'get_mapped_task_instance_try_details',
      summary: 'Get Mapped Task Instance Try Details',
      tags: ['Task Instance'],
      params: s.taskMapTryParams,
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceHistoryResponse,
      },
      handler: ({ params }) =>
        oneTry(
          params.dag_id,
          params.dag_run_id,
          params.task_id,
          params.map_index,
          params.task_try_number,
        ),
    }),
    defineRoute({
      method: 'get',
      path: `${TI_PREFIX}/{task_id}/{map_index}`,
      operationId: 'get_mapped_task_instance',
      summary: 'Get Mapped Task Instance',
      description: 'There are no mapped tasks: only map_index -1 finds an instance.',
      tags: ['Task Instance'],
      params: s.taskInstanceMapParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.TaskInstanceResponse },
      async handler({ params }) {
        const ti = await queries.getTaskInstance(
          params.dag_id,
          params.dag_run_id,
          params.task_id,
          params.map_index,
        );
        if (!ti)
          throw ApiError.notFound(
            `The Mapped Task Instance with dag_id: \`${params.dag_id}\`, run_id: \`${params.dag_run_id}\`, task_id: \`${params.task_id}\`, and map_index: \`${params.map_index}\` was not found`,
          );
        return { status: 200, body: taskInstanceResponse(ti) };
      },
    }),
  ];
}
