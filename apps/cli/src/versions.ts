/** What changed between two versions of a DAG, from their structures (nodes and edges). */
import type { Schemas } from '@dagbag/client';

type Structure = Schemas['DagStructureResponse'];
type Node = Schemas['StructureNode'];
type Edge = Schemas['StructureEdge'];

export interface StructureDiff {
  tasks: {
    added: Node[];
    removed: Node[];
    changed: { id: string; fields: Record<string, [unknown, unknown]> }[];
  };
  edges: { added: Edge[]; removed: Edge[] };
}

const COMPARED: (keyof Node)[] = ['label', 'operator', 'trigger_rule', 'retries'];

export function diffStructures(from: Structure, to: Structure): StructureDiff {
  const before = new Map(from.nodes.map((node) => [node.id, node]));
  const after = new Map(to.nodes.map((node) => [node.id, node]));
  const changed: StructureDiff['tasks']['changed'] = [];
  for (const [id, node] of after) {
    const old = before.get(id);
    if (!old) continue;
    const fields: Record<string, [unknown, unknown]> = {};
    for (const key of COMPARED) if (old[key] !== node[key]) fields[key] = [old[key], node[key]];
    if (Object.keys(fields).length > 0) changed.push({ id, fields });
  }
  const edgeKey = (edge: Edge) => `${edge.source_id}\u0000${edge.target_id}`;
  const edgesBefore = new Set(from.edges.map(edgeKey));
  const edgesAfter = new Set(to.edges.map(edgeKey));
  return {
    tasks: {
      added: to.nodes.filter((node) => !before.has(node.id)),
      removed: from.nodes.filter((node) => !after.has(node.id)),
      changed,
    },
    edges: {
      added: to.edges.filter((edge) => !edgesBefore.has(edgeKey(edge))),
      removed: from.edges.filter((edge) => !edgesAfter.has(edgeKey(edge))),
    },
  };
}
