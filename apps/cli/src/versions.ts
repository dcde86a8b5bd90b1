/**
 * What changed between two versions of a DAG: tasks and edges from their structures (nodes and
 * edges), and each kept task's settings (its command included) from the versions' documents.
 */
import type { Schemas } from '@dagbag/client';
import { parseDagSource, type DagDocument } from '@dagbag/dagbag';

type Structure = Schemas['DagStructureResponse'];
type Node = Schemas['StructureNode'];
type Edge = Schemas['StructureEdge'];

export interface StructureDiff {
  /** The DAG's own settings that changed (schedule, max_active_runs...), from the documents. */
  dag: Record<string, [unknown, unknown]>;
  tasks: {
    added: Node[];
    removed: Node[];
    changed: { id: string; fields: Record<string, [unknown, unknown]> }[];
  };
  edges: { added: Edge[]; removed: Edge[] };
}

const COMPARED: (keyof Node)[] = ['label', 'operator', 'trigger_rule', 'retries'];
/** A DAG's document fields that are not settings of its own: its id, and its tasks. */
const NOT_DAG_SETTINGS = new Set(['dag_id', 'tasks']);
/** A task's document fields that are not settings of its own: its id, and the edges. */
const NOT_SETTINGS = new Set(['task_id', 'upstream']);

/**
 * The DAG document of a version's source (GET /dagSources: the file's JSON or YAML text, or the
 * serialized document as JSON for versions stored before sources were kept); undefined when it
 * does not parse.
 */
export function documentOfSource(content: string | null): DagDocument | undefined {
  if (content === null) return undefined;
  for (const name of ['source.json', 'source.yaml']) {
    const parsed = parseDagSource(content, name);
    if (parsed.ok) return parsed.document;
  }
  return undefined;
}

/**
 * `documents` (both versions' DAG documents) adds the settings the structure does not carry
 * (bash_command, retry_delay_seconds...) to each task in both versions.
 */
export function diffStructures(
  from: Structure,
  to: Structure,
  documents?: { from: DagDocument; to: DagDocument },
): StructureDiff {
  const before = new Map(from.nodes.map((node) => [node.id, node]));
  const after = new Map(to.nodes.map((node) => [node.id, node]));
  const settings = (document: DagDocument | undefined) =>
    new Map((document?.tasks ?? []).map((task) => [task.task_id, task as Record<string, unknown>]));
  const settingsBefore = settings(documents?.from);
  const settingsAfter = settings(documents?.to);
  const changed: StructureDiff['tasks']['changed'] = [];
  for (const [id, node] of after) {
    const old = before.get(id);
    if (!old) continue;
    const fields: Record<string, [unknown, unknown]> = {};
    for (const key of COMPARED) if (old[key] !== node[key]) fields[key] = [old[key], node[key]];
    const oldTask = settingsBefore.get(id) ?? {};
    const newTask = settingsAfter.get(id) ?? {};
    for (const key of new Set([...Object.keys(oldTask), ...Object.keys(newTask)])) {
      if (NOT_SETTINGS.has(key) || key in fields) continue;
      if (JSON.stringify(oldTask[key]) !== JSON.stringify(newTask[key]))
        fields[key] = [oldTask[key], newTask[key]];
    }
    if (Object.keys(fields).length > 0) changed.push({ id, fields });
  }
  const dag: StructureDiff['dag'] = {};
  if (documents) {
    const [a, b] = [documents.from, documents.to] as Record<string, unknown>[];
    for (const key of new Set([...Object.keys(a!), ...Object.keys(b!)])) {
      if (NOT_DAG_SETTINGS.has(key)) continue;
      if (JSON.stringify(a![key]) !== JSON.stringify(b![key])) dag[key] = [a![key], b![key]];
    }
  }
  const edgeKey = (edge: Edge) => `${edge.source_id}\u0000${edge.target_id}`;
  const edgesBefore = new Set(from.edges.map(edgeKey));
  const edgesAfter = new Set(to.edges.map(edgeKey));
  return {
    dag,
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

/** A changed value as printed: as JSON (a command quoted: it may hold spaces), absent as "none". */
export function settingText(value: unknown): string {
  return value === undefined ? 'none' : JSON.stringify(value);
}
