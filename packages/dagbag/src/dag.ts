import {
  dagDocumentSchema,
  isValidDocument,
  problemsFromZod,
  type DagDocument,
  type DagProblem,
  type Operator,
  type TriggerRule,
} from './document.ts';

/** A stored document that does not validate (a corrupt or foreign row). */
export class DagValidationError extends Error {
  override readonly name = 'DagValidationError';
  readonly problems: readonly DagProblem[];
  constructor(problems: readonly DagProblem[]) {
    super(`Invalid DAG document: ${problems.map((p) => p.reason).join('; ')}`);
    this.problems = problems;
  }
}

export interface Task {
  readonly taskId: string;
  readonly operator: Operator;
  readonly bashCommand: string | undefined;
  readonly triggerRule: TriggerRule;
  readonly retries: number;
  readonly retryDelaySeconds: number;
  readonly executionTimeoutSeconds: number | undefined;
  readonly upstream: readonly string[];
  readonly downstream: readonly string[];
}

/** An immutable, validated DAG as the scheduler and the API use it. */
export interface Dag {
  readonly dagId: string;
  readonly document: DagDocument;
  readonly tasks: ReadonlyMap<string, Task>;
  readonly upstream: ReadonlyMap<string, readonly string[]>;
  readonly downstream: ReadonlyMap<string, readonly string[]>;
  /** Every task after all of its upstream tasks; ties keep document order. */
  readonly topologicalOrder: readonly string[];
  /** Tasks without upstream, in document order. */
  readonly roots: readonly string[];
  /** Tasks without downstream, in document order. */
  readonly leaves: readonly string[];
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Validates `data` (a stored `serialized_dag.data` or a parsed file) and builds the in-memory DAG.
 * Throws DagValidationError naming every problem. The document is deep-frozen and the maps are
 * only handed out as ReadonlyMap, because one instance is shared by every caller of the cache.
 */
export function deserializeDag(data: unknown): Dag {
  const parsed = dagDocumentSchema.safeParse(data);
  if (!parsed.success) throw new DagValidationError(problemsFromZod(parsed.error, data));
  return buildDag(parsed.data);
}

/**
 * deserializeDag for a document the caller owns (fresh from JSON.parse, as a cache miss has it):
 * checked in one pass and completed in place (isValidDocument) instead of copied by the schema. A
 * document that fails goes through the schema for its messages (DagValidationError, as
 * deserializeDag throws).
 */
export function deserializeOwnedDag(data: unknown): Dag {
  return isValidDocument(data) ? buildDag(data) : deserializeDag(data);
}

/** Builds the in-memory DAG from an already validated document (no second validation). */
export function buildDag(document: DagDocument): Dag {
  const downstreamLists = new Map<string, string[]>();
  for (const task of document.tasks) downstreamLists.set(task.task_id, []);
  for (const task of document.tasks) {
    for (const upstreamId of task.upstream) downstreamLists.get(upstreamId)!.push(task.task_id);
  }

  const tasks = new Map<string, Task>();
  const upstream = new Map<string, readonly string[]>();
  const downstream = new Map<string, readonly string[]>();
  for (const task of document.tasks) {
    const down = Object.freeze(downstreamLists.get(task.task_id)!);
    const up = Object.freeze([...task.upstream]);
    upstream.set(task.task_id, up);
    downstream.set(task.task_id, down);
    tasks.set(
      task.task_id,
      Object.freeze({
        taskId: task.task_id,
        operator: task.operator,
        bashCommand: task.bash_command,
        triggerRule: task.trigger_rule,
        retries: task.retries,
        retryDelaySeconds: task.retry_delay_seconds,
        executionTimeoutSeconds: task.execution_timeout_seconds,
        upstream: up,
        downstream: down,
      }),
    );
  }

  // Kahn's algorithm over document order; the schema already refused cycles, so all tasks drain.
  const remaining = new Map<string, number>();
  for (const task of document.tasks) remaining.set(task.task_id, task.upstream.length);
  const ready = document.tasks.filter((t) => t.upstream.length === 0).map((t) => t.task_id);
  const order: string[] = [];
  for (let head = 0; head < ready.length; head++) {
    const id = ready[head]!;
    order.push(id);
    for (const next of downstream.get(id)!) {
      const left = remaining.get(next)! - 1;
      remaining.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  if (order.length !== document.tasks.length) {
    throw new DagValidationError([{ reason: 'tasks form a cycle' }]);
  }

  return Object.freeze({
    dagId: document.dag_id,
    document: deepFreeze(document),
    tasks,
    upstream,
    downstream,
    topologicalOrder: Object.freeze(order),
    roots: Object.freeze(
      document.tasks.filter((t) => t.upstream.length === 0).map((t) => t.task_id),
    ),
    leaves: Object.freeze(
      document.tasks.filter((t) => downstream.get(t.task_id)!.length === 0).map((t) => t.task_id),
    ),
  });
}
