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
  /** The stored version the document came from, when it came from one (a cache load). */
  readonly version: StoredVersion | undefined;
  constructor(problems: readonly DagProblem[], version?: StoredVersion) {
    super(`Invalid DAG document: ${problems.map((p) => p.reason).join('; ')}`);
    this.problems = problems;
    this.version = version;
  }
}

/** Which stored version a document is: what a client or an operator can look up. */
export interface StoredVersion {
  readonly versionId: string;
  readonly dagId: string;
  readonly versionNumber: number;
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

/**
 * Builds the in-memory DAG from an already validated document (no second validation). The
 * document itself is frozen (the schema's shape: the document, its tags, its tasks and each task's
 * upstream list; nothing else in it is an object) and its upstream lists are the tasks' own, not
 * copies: one pass over the tasks with index arrays, a miss builds it for every version it loads.
 */
export function buildDag(document: DagDocument): Dag {
  const list = document.tasks;
  const count = list.length;
  const indexById = new Map<string, number>();
  for (let i = 0; i < count; i++) indexById.set(list[i]!.task_id, i);
  const downstreamLists: string[][] = [];
  for (let i = 0; i < count; i++) downstreamLists.push([]);
  for (let i = 0; i < count; i++) {
    const task = list[i]!;
    for (const upstreamId of task.upstream)
      downstreamLists[indexById.get(upstreamId)!]!.push(task.task_id);
  }

  const tasks = new Map<string, Task>();
  const upstream = new Map<string, readonly string[]>();
  const downstream = new Map<string, readonly string[]>();
  const roots: string[] = [];
  const leaves: string[] = [];
  // Kahn's algorithm over document order; the schema already refused cycles, so all tasks drain.
  const waiting = new Int32Array(count);
  const ready = new Int32Array(count);
  let tail = 0;
  for (let i = 0; i < count; i++) {
    const task = Object.freeze(list[i]!);
    const id = task.task_id;
    const up = Object.freeze(task.upstream);
    const down = Object.freeze(downstreamLists[i]!);
    upstream.set(id, up);
    downstream.set(id, down);
    tasks.set(
      id,
      Object.freeze({
        taskId: id,
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
    waiting[i] = up.length;
    if (up.length === 0) {
      roots.push(id);
      ready[tail++] = i;
    }
    if (down.length === 0) leaves.push(id);
  }
  const order: string[] = [];
  for (let head = 0; head < tail; head++) {
    const at = ready[head]!;
    order.push(list[at]!.task_id);
    for (const next of downstreamLists[at]!) {
      const j = indexById.get(next)!;
      if (--waiting[j]! === 0) ready[tail++] = j;
    }
  }
  if (order.length !== count) {
    throw new DagValidationError([{ reason: 'tasks form a cycle' }]);
  }
  Object.freeze(list);
  Object.freeze(document.tags);

  return Object.freeze({
    dagId: document.dag_id,
    document: Object.freeze(document),
    tasks,
    upstream,
    downstream,
    topologicalOrder: Object.freeze(order),
    roots: Object.freeze(roots),
    leaves: Object.freeze(leaves),
  });
}
