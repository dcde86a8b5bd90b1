/** Upstream and downstream relatives of tasks in a DAG (Airflow's `get_flat_relatives`). */
import type { Dag } from '@dagbag/dagbag';

/** Every task reachable from `taskIds` along `edges` (the starting tasks excluded). */
function reachable(
  taskIds: Iterable<string>,
  edges: ReadonlyMap<string, readonly string[]>,
): Set<string> {
  const start = new Set(taskIds);
  const found = new Set<string>();
  const queue = [...start];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    for (const relative of edges.get(next) ?? []) {
      if (found.has(relative)) continue;
      found.add(relative);
      queue.push(relative);
    }
  }
  for (const id of start) found.delete(id);
  return found;
}

/** Every task downstream of `taskIds`, transitively, without them. */
export function downstreamOf(dag: Dag, taskIds: Iterable<string>): Set<string> {
  return reachable(taskIds, dag.downstream);
}

/** `taskIds` with their upstream and/or downstream relatives, transitively. */
export function withRelatives(
  dag: Dag,
  taskIds: Iterable<string>,
  options: { upstream: boolean; downstream: boolean },
): string[] {
  const ids = new Set(taskIds);
  const result = new Set(ids);
  if (options.upstream) for (const id of reachable(ids, dag.upstream)) result.add(id);
  if (options.downstream) for (const id of reachable(ids, dag.downstream)) result.add(id);
  return [...result];
}
