/**
 * isValidDocument (the one-pass check of a cache miss) against dagDocumentSchema (the reference):
 * the same verdict on every document, and on acceptance the same document, defaults included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deserializeDag, deserializeOwnedDag, DagValidationError } from './dag.ts';
import { dagDocumentSchema, isValidDocument, LIMITS, type DagDocumentInput } from './document.ts';
import { makeDagDocument } from './testing.ts';

/** Both verdicts on `text` (parsed twice: the one-pass check fills defaults into its input). */
function expectSameVerdict(text: string): boolean {
  const reference = dagDocumentSchema.safeParse(JSON.parse(text));
  const input: unknown = JSON.parse(text);
  expect(isValidDocument(input), text.slice(0, 2000)).toBe(reference.success);
  if (reference.success) expect(input).toEqual(reference.data);
  return reference.success;
}

const small: DagDocumentInput = {
  dag_id: 'd',
  schedule: '0 3 * * *',
  start_date: '2026-01-01T00:00:00+01:00',
  timezone: 'Europe/Amsterdam',
  tags: ['a'],
  is_paused_upon_creation: true,
  tasks: [
    { task_id: 'a', operator: 'empty' },
    { task_id: 'b', operator: 'bash', bash_command: 'echo b', upstream: ['a'], retries: 2 },
    {
      task_id: 'c',
      operator: 'bash',
      bash_command: 'echo c',
      upstream: ['a', 'b'],
      trigger_rule: 'all_done',
      execution_timeout_seconds: 60,
    },
  ],
};

/** Valid documents to mutate: with every default written out, and with defaults left out. */
const BASES: unknown[] = [
  small,
  { dag_id: 'bare', tasks: [] },
  makeDagDocument({ taskCount: 12, seed: 3 }),
  makeDagDocument({ taskCount: 30, seed: 4, schedule: null }),
  makeDagDocument({ taskCount: 8, seed: 5, schedule: '*/30 * * * *' }),
];

/** Values at the edges of what the schema allows, of every JSON type. */
const VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  1.5,
  16,
  100,
  101,
  300,
  86_400,
  86_401,
  604_800,
  604_801,
  10_000,
  10_001,
  1e300,
  '',
  'x',
  'a'.repeat(100),
  'a'.repeat(101),
  'a'.repeat(250),
  'a'.repeat(251),
  'a'.repeat(LIMITS.bashCommandBytes),
  'a'.repeat(LIMITS.bashCommandBytes + 1),
  'é'.repeat(LIMITS.bashCommandBytes / 2),
  'é'.repeat(LIMITS.bashCommandBytes / 2 + 1),
  'bad id!',
  'ünïcode',
  '@daily',
  '@yearly',
  '0 3 * * *',
  '61 * * * *',
  '0 0 31 2 *',
  'Europe/Amsterdam',
  'Mars/Olympus',
  '2026-01-01T00:00:00Z',
  '2026-01-01',
  '2026-01-01T00:00:00+01:00',
  'bash',
  'empty',
  'python',
  'all_done',
  'always',
  [],
  ['a'],
  ['a', 'a'],
  [1],
  {},
  { task_id: 'x', operator: 'empty' },
];

const DAG_KEYS = [
  'dag_id',
  'description',
  'schedule',
  'start_date',
  'timezone',
  'max_active_runs',
  'catchup',
  'is_paused_upon_creation',
  'tags',
  'tasks',
  'owner',
  'max_active_tasks',
];
const TASK_KEYS = [
  'task_id',
  'operator',
  'bash_command',
  'upstream',
  'trigger_rule',
  'retries',
  'retry_delay_seconds',
  'execution_timeout_seconds',
  'pool',
];

type Mutation =
  | { kind: 'dag'; key: string; value: number | 'delete' }
  | { kind: 'task'; task: number; key: string; value: number | 'delete' }
  | { kind: 'edge'; task: number; position: number; target: number }
  | { kind: 'tag'; position: number; value: number };

const valueOrDelete = fc.oneof(
  fc.constant<'delete'>('delete'),
  fc.integer({ min: 0, max: VALUES.length - 1 }),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('dag' as const),
    key: fc.constantFrom(...DAG_KEYS),
    value: valueOrDelete,
  }),
  fc.record({
    kind: fc.constant('task' as const),
    task: fc.nat(40),
    key: fc.constantFrom(...TASK_KEYS),
    value: valueOrDelete,
  }),
  // An upstream entry naming another task of the document: duplicates, cycles, self-loops.
  fc.record({
    kind: fc.constant('edge' as const),
    task: fc.nat(40),
    position: fc.nat(3),
    target: fc.nat(40),
  }),
  fc.record({
    kind: fc.constant('tag' as const),
    position: fc.nat(3),
    value: fc.nat(VALUES.length - 1),
  }),
);

function mutate(base: unknown, mutations: readonly Mutation[]): string {
  const doc = structuredClone(base) as Record<string, any>;
  const set = (target: Record<string, unknown>, key: string, value: number | 'delete') => {
    if (value === 'delete') delete target[key];
    else target[key] = structuredClone(VALUES[value]);
  };
  for (const m of mutations) {
    const tasks: any[] = Array.isArray(doc.tasks) ? doc.tasks : [];
    if (m.kind === 'dag') set(doc, m.key, m.value);
    else if (m.kind === 'tag' && Array.isArray(doc.tags)) doc.tags[m.position] = VALUES[m.value];
    else if (tasks.length === 0) continue;
    else if (m.kind === 'task') {
      const task = tasks[m.task % tasks.length];
      if (task !== null && typeof task === 'object' && !Array.isArray(task))
        set(task, m.key, m.value);
      else
        tasks[m.task % tasks.length] = structuredClone(VALUES[m.value === 'delete' ? 0 : m.value]);
    } else if (m.kind === 'edge') {
      const task = tasks[m.task % tasks.length];
      const target = tasks[m.target % tasks.length];
      // A task a mutation made a string or a number has no upstream to point anywhere.
      if (task === null || typeof task !== 'object' || Array.isArray(task)) continue;
      if (task.upstream === undefined) task.upstream = [];
      if (Array.isArray(task.upstream)) task.upstream[m.position] = target?.task_id ?? 'ghost';
    }
  }
  // JSON has no undefined or holes: what a row's text can hold.
  return JSON.stringify(doc);
}

describe('isValidDocument', () => {
  it('gives the schema verdict, and its document, on every valid base document', () => {
    for (const base of BASES) expect(expectSameVerdict(JSON.stringify(base))).toBe(true);
  });

  // Exhaustive and CPU-bound: about 5 s on an idle machine. A CI run on a host slowed tenfold took
  // 52 s, past the default 30 s; a hang would still be caught.
  it(
    'gives the schema verdict on every single field of the document or of a task set to each edge value or left out',
    {
      timeout: 120_000,
    },
    () => {
      const values = [...VALUES.keys(), 'delete' as const];
      for (const base of BASES) {
        for (const key of DAG_KEYS)
          for (const value of values)
            expectSameVerdict(mutate(base, [{ kind: 'dag', key, value }]));
        for (const task of [0, 1, 2])
          for (const key of TASK_KEYS)
            for (const value of values)
              expectSameVerdict(mutate(base, [{ kind: 'task', task, key, value }]));
      }
    },
  );

  it('gives the schema verdict on documents with up to four mutations of their fields, edges and tags', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.nat(BASES.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (base, mutations) => {
          if (expectSameVerdict(mutate(BASES[base], mutations))) accepted++;
        },
      ),
      { numRuns: 4000, seed: 13 },
    );
    // Both verdicts are exercised (a generator that only broke documents would prove little).
    expect(accepted).toBeGreaterThan(400);
  });

  it('gives the schema verdict on values of any JSON type in place of the document or a task', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(2), (value, where) => {
        const doc = structuredClone(small) as Record<string, any>;
        const text =
          where === 0
            ? JSON.stringify(value)
            : where === 1
              ? JSON.stringify({ ...doc, tasks: [...doc.tasks, value] })
              : JSON.stringify({ ...doc, description: value });
        expectSameVerdict(text ?? 'null');
      }),
      { numRuns: 1000, seed: 13 },
    );
  });
});

describe('deserializeOwnedDag', () => {
  it('refuses a bad document with the problems deserializeDag names', () => {
    const bad = {
      dag_id: 'd',
      tasks: [
        { task_id: 'a', operator: 'empty', upstream: ['ghost'] },
        { task_id: 'a', operator: 'empty' },
      ],
    };
    const problemsOf = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(DagValidationError);
        return (error as DagValidationError).problems;
      }
      throw new Error('expected a DagValidationError');
    };
    const owned = problemsOf(() => deserializeOwnedDag(structuredClone(bad)));
    expect(owned).toEqual(problemsOf(() => deserializeDag(bad)));
    expect(owned.length).toBeGreaterThan(1);
  });

  it('builds the same DAG as deserializeDag from a document with defaults left out', () => {
    const owned = deserializeOwnedDag(structuredClone(small));
    const reference = deserializeDag(small);
    expect(owned.document).toEqual(reference.document);
    expect([...owned.tasks.values()]).toEqual([...reference.tasks.values()]);
    expect(owned.topologicalOrder).toEqual(reference.topologicalOrder);
  });
});
