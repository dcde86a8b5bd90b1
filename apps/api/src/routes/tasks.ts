/** Tasks of a DAG, read through the DAG cache (no SQL). */
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { taskResponse } from '../serialize.ts';
import { dagNotFound, type RouteContext } from './common.ts';

const TASK_ORDER = ['task_id', 'operator_name', 'trigger_rule', 'retries'] as const;
type TaskOrderColumn = (typeof TASK_ORDER)[number];
const isTaskOrderColumn = (name: string): name is TaskOrderColumn =>
  (TASK_ORDER as readonly string[]).includes(name);

export function taskRoutes({ dagBag }: RouteContext): RouteDefinition[] {
  return [
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
          .refine((key) => isTaskOrderColumn(key.replace(/^-/, '')), {
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
        const name = query.order_by.replace(/^-/, '');
        const column: TaskOrderColumn = isTaskOrderColumn(name) ? name : 'task_id';
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
      path: '/api/v2/dags/{dag_id}/tasks/{task_id}',
      operationId: 'get_task',
      summary: 'Get Task',
      description: 'One task of the latest version of the DAG, read through the DAG cache.',
      tags: ['Task'],
      params: s.dagIdParam.extend({ task_id: z.string().min(1) }),
      errors: [400, 404],
      success: { status: 200, description: 'Successful Response', schema: s.TaskResponse },
      async handler({ params }) {
        const entry = await dagBag.getLatest(params.dag_id);
        if (!entry) throw dagNotFound(params.dag_id);
        const task = entry.dag.tasks.get(params.task_id);
        if (!task) throw ApiError.notFound(`Task with id ${params.task_id} was not found`);
        return { status: 200, body: taskResponse(entry.dag, task) };
      },
    }),
  ];
}
