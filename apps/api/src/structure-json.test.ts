import { entryFromRow, type DagVersionEntry } from '@dagbag/dagbag';
import { makeDagDocument } from '@dagbag/dagbag/testing';
import { describe, expect, it } from 'vitest';
import { DagStructureResponse } from './schemas.ts';
import { structureJson } from './serialize.ts';

/** The structure answer as objects, as it was built before structureJson wrote it directly. */
function referenceJson(entry: DagVersionEntry): string {
  const { dag } = entry;
  return JSON.stringify({
    dag_id: entry.dagId,
    version_number: entry.versionNumber,
    dag_version_id: entry.versionId,
    dag_hash: entry.dagHash,
    nodes: dag.topologicalOrder.map((taskId) => {
      const task = dag.tasks.get(taskId)!;
      return {
        id: taskId,
        label: taskId,
        type: 'task',
        operator: task.operator,
        trigger_rule: task.triggerRule,
        retries: task.retries,
      };
    }),
    edges: dag.topologicalOrder.flatMap((taskId) =>
      (dag.upstream.get(taskId) ?? []).map((upstreamId) => ({
        source_id: upstreamId,
        target_id: taskId,
      })),
    ),
  });
}

function entry(seed: number, strings: { dagId: string; dagHash: string }): DagVersionEntry {
  const document = makeDagDocument({ taskCount: 1 + (seed % 60), seed });
  return entryFromRow({
    versionId: '0190a0b0-0000-7000-8000-00000000000a',
    dagId: strings.dagId,
    versionNumber: seed,
    dagHash: strings.dagHash,
    createdAt: new Date(0),
    dataText: JSON.stringify(document),
  }).entry;
}

describe('structureJson', () => {
  it('writes the same bytes as JSON.stringify of the answer as objects', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const version = entry(seed, { dagId: `dag_${seed}`, dagHash: 'f'.repeat(64) });
      expect(structureJson(version)).toBe(referenceJson(version));
    }
  });

  it("escapes the row's own strings, and the answer fits its schema", () => {
    const version = entry(7, { dagId: 'quote " back \\ ü \u0001', dagHash: 'line\nbreak "x"' });
    const text = structureJson(version);
    expect(text).toBe(referenceJson(version));
    expect(DagStructureResponse.safeParse(JSON.parse(text)).success).toBe(true);
  });
});
