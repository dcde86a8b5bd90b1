import { parseDagSource, type DagDocument } from '@dagbag/dagbag';
import { describe, expect, it } from 'vitest';
import { diffStructures } from './versions.ts';

const document = (fields: Record<string, unknown>): DagDocument => {
  const parsed = parseDagSource(
    JSON.stringify({ dag_id: 'd', tasks: [{ task_id: 'a', operator: 'empty' }], ...fields }),
    'd.json',
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.document;
};
const structure = { nodes: [], edges: [] } as unknown as Parameters<typeof diffStructures>[0];

describe('diffStructures', () => {
  it("names the DAG's own settings that changed, a default written out or left out being no change", () => {
    const diff = diffStructures(structure, structure, {
      from: document({ schedule: null, max_active_runs: 16 }),
      to: document({ schedule: '@daily', start_date: '2026-01-01T00:00:00Z', tags: ['x'] }),
    });
    expect(diff.dag).toEqual({
      schedule: [null, '@daily'],
      start_date: [undefined, '2026-01-01T00:00:00Z'],
      tags: [[], ['x']],
    });
  });
});
