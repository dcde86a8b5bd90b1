/**
 * What the database needs of a DAG version, computed once per deserialized DAG (the DAG cache
 * hands out the same frozen object on every hit, so a WeakMap keyed by it is a free cache).
 */
import type { Dag } from '@dagbag/dagbag';
import type { GraphArrays, TaskSpec } from '@dagbag/db';

const graphs = new WeakMap<Dag, GraphArrays>();
const specs = new WeakMap<Dag, readonly TaskSpec[]>();

export function graphArrays(dag: Dag): GraphArrays {
  let graph = graphs.get(dag);
  if (graph === undefined) {
    graph = {
      taskIds: [],
      triggerRules: [],
      isEmpty: [],
      edgeTaskIds: [],
      edgeUpstreamIds: [],
      leafTaskIds: [...dag.leaves],
    };
    for (const task of dag.tasks.values()) {
      graph.taskIds.push(task.taskId);
      graph.triggerRules.push(task.triggerRule);
      graph.isEmpty.push(task.operator === 'empty');
      for (const upstreamId of task.upstream) {
        graph.edgeTaskIds.push(task.taskId);
        graph.edgeUpstreamIds.push(upstreamId);
      }
    }
    graphs.set(dag, graph);
  }
  return graph;
}

export function taskSpecs(dag: Dag): readonly TaskSpec[] {
  let list = specs.get(dag);
  if (list === undefined) {
    list = [...dag.tasks.values()].map((task) => ({
      taskId: task.taskId,
      operator: task.operator,
      retries: task.retries,
    }));
    specs.set(dag, list);
  }
  return list;
}
