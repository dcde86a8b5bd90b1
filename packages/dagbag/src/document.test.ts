import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  dagDocumentSchema,
  dagHash,
  isValidDocument,
  LIMITS,
  MAX_SOURCE_BYTES,
  parseDagSource,
  type DagProblem,
} from './document.ts';
import { makeDagDocument } from './testing.ts';

function problems(text: string, fileName = 'dag.json'): DagProblem[] {
  const result = parseDagSource(text, fileName);
  if (result.ok) throw new Error('expected the file to be refused');
  // The cache's one-pass check refuses every document the schema refuses (valid-document.test.ts).
  const reason = result.errors[0]?.reason ?? '';
  if (fileName.endsWith('.json') && !/^(invalid JSON|file is|the file is empty)/.test(reason))
    expect(isValidDocument(JSON.parse(text))).toBe(false);
  return result.errors;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

describe('parseDagSource', () => {
  it('accepts a DAG file with every field and applies the defaults', () => {
    const result = parseDagSource(
      json({
        dag_id: 'example_etl',
        description: 'optional',
        schedule: null,
        start_date: '2026-01-01T00:00:00Z',
        max_active_runs: 16,
        tags: ['example'],
        tasks: [
          {
            task_id: 'extract',
            operator: 'bash',
            bash_command: 'echo extract',
            retries: 1,
            retry_delay_seconds: 5,
            execution_timeout_seconds: 600,
          },
          {
            task_id: 'load',
            operator: 'empty',
            upstream: ['extract'],
            trigger_rule: 'all_success',
          },
        ],
      }),
      'example_etl.json',
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.document.catchup).toBe(false);
    expect(result.document.tasks[1]).toMatchObject({
      retries: 0,
      retry_delay_seconds: 300,
      trigger_rule: 'all_success',
    });
    expect(result.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports a cycle with its path and the task', () => {
    const [problem, ...rest] = problems(
      json({
        dag_id: 'cyclic',
        tasks: [
          { task_id: 'a', operator: 'empty', upstream: ['c'] },
          { task_id: 'b', operator: 'empty', upstream: ['a'] },
          { task_id: 'c', operator: 'empty', upstream: ['b'] },
        ],
      }),
    );
    expect(rest).toEqual([]);
    expect(problem!.reason).toContain('tasks form a cycle: b -> c -> a -> b');
    expect(problem!.taskId).toBe('a');
    expect(problem).toMatchObject({ line: 7, column: 7 });
  });

  it('reports a cycle together with a bad field of another task, not only after the field is fixed', () => {
    const reasons = problems(
      json({
        dag_id: 'two_problems',
        tasks: [
          { task_id: 'a', operator: 'emptyy' },
          { task_id: 'b', operator: 'empty', upstream: ['c'] },
          { task_id: 'c', operator: 'empty', upstream: ['b'] },
        ],
      }),
    ).map((problem) => problem.reason);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toContain('unknown operator "emptyy"');
    expect(reasons[1]).toContain('tasks form a cycle: c -> b -> c');
  });

  it('reports a graph problem once when it is the only problem', () => {
    expect(
      problems(
        json({ dag_id: 'd', tasks: [{ task_id: 'a', operator: 'empty', upstream: ['a'] }] }),
      ),
    ).toHaveLength(1);
  });

  it('reports a task depending on itself as a cycle', () => {
    expect(
      problems(
        json({ dag_id: 'd', tasks: [{ task_id: 'a', operator: 'empty', upstream: ['a'] }] }),
      )[0]!.reason,
    ).toContain('cycle: a -> a');
  });

  it('reports an unknown upstream naming the task and the missing id, at its line', () => {
    const [problem] = problems(
      json({
        dag_id: 'd',
        tasks: [
          { task_id: 'a', operator: 'empty' },
          { task_id: 'b', operator: 'empty', upstream: ['nope'] },
        ],
      }),
    );
    expect(problem).toMatchObject({
      taskId: 'b',
      path: 'tasks[1].upstream[0]',
      line: 12,
      column: 9,
    });
    expect(problem!.reason).toContain('task "b" has unknown upstream "nope"');
  });

  it('reports a duplicate task id', () => {
    const [problem] = problems(
      json({
        dag_id: 'd',
        tasks: [
          { task_id: 'a', operator: 'empty' },
          { task_id: 'a', operator: 'empty' },
        ],
      }),
    );
    expect(problem).toMatchObject({ taskId: 'a', path: 'tasks[1].task_id' });
    expect(problem!.reason).toContain('duplicate task_id "a"');
  });

  it('names the fields a task may have when one is misspelt', () => {
    const [problem] = problems(
      json({ dag_id: 'd', tasks: [{ task_id: 'a', operator: 'empty', command: 'x' }] }),
    );
    expect(problem).toMatchObject({ taskId: 'a', path: 'tasks[0]' });
    expect(problem!.reason).toBe(
      'tasks[0]: unknown task field "command"; expected task_id, operator, bash_command, upstream, trigger_rule, retries, retry_delay_seconds, execution_timeout_seconds',
    );
  });

  it('suggests the field a misspelt one most likely meant', () => {
    const reasons = problems(
      json({
        dag_id: 'd',
        schedulle: null,
        tasks: [{ task_id: 'a', operator: 'bash', bash_comand: 'echo a', upstreams: [] }],
      }),
    ).map((p) => p.reason);
    expect(reasons).toContain(
      'tasks[0]: unknown task fields "bash_comand" (did you mean "bash_command"?), "upstreams" (did you mean "upstream"?); expected task_id, operator, bash_command, upstream, trigger_rule, retries, retry_delay_seconds, execution_timeout_seconds',
    );
    expect(reasons).toContain(
      'unknown DAG field "schedulle" (did you mean "schedule"?); expected dag_id, description, schedule, start_date, timezone, max_active_runs, max_active_tasks, catchup, is_paused_upon_creation, tags, tasks',
    );
  });

  it('names what a field of the wrong type must be, for every field', () => {
    const reasons = problems(
      json({
        dag_id: 'd',
        description: 5,
        schedule: null,
        timezone: 1,
        max_active_runs: '3',
        catchup: 'yes',
        is_paused_upon_creation: 'true',
        tags: 'etl',
        tasks: [
          {
            task_id: 'a',
            operator: 'bash',
            bash_command: ['echo', 'a'],
            upstream: 'b',
            execution_timeout_seconds: '60',
          },
          { task_id: 'b', operator: 'empty', retries: '1', retry_delay_seconds: 1.5 },
        ],
      }),
    ).map((p) => p.reason);
    expect(reasons).toEqual([
      'description: description must be text',
      'timezone: timezone must be an IANA time zone name, e.g. Europe/Amsterdam',
      'max_active_runs: max_active_runs must be a number',
      'catchup: catchup must be true or false',
      'is_paused_upon_creation: is_paused_upon_creation must be true or false',
      'tags: tags must be a list of strings',
      'tasks[0].bash_command: bash_command must be text',
      'tasks[0].upstream: upstream must be a list of task ids',
      'tasks[0].execution_timeout_seconds: execution_timeout_seconds must be a number',
      'tasks[1].retries: retries must be a number',
      'tasks[1].retry_delay_seconds: retry_delay_seconds must be a whole number',
    ]);
  });

  it('names the range of a number out of range', () => {
    const reasons = problems(
      json({
        dag_id: 'd',
        max_active_runs: 0,
        tasks: [{ task_id: 'a', operator: 'empty', execution_timeout_seconds: 0 }],
      }),
    ).map((p) => p.reason);
    expect(reasons).toEqual([
      'max_active_runs: max_active_runs must be at least 1',
      'tasks[0].execution_timeout_seconds: execution_timeout_seconds must be at least 1',
    ]);
  });

  it('says that tasks is required, and a list, when it is missing or empty in YAML', () => {
    expect(problems(json({ dag_id: 'd' })).map((p) => p.reason)).toEqual([
      'tasks: tasks is required: a list of tasks (it may be empty: [])',
    ]);
    expect(problems('dag_id: d\ntasks:\n', 'dag.yaml').map((p) => p.reason)).toEqual([
      'tasks: tasks must be a list of tasks, not null',
    ]);
  });

  it('says a missing dag_id is required, and a top level that is not an object what it should be', () => {
    expect(problems(json({ tasks: [] })).map((p) => p.reason)).toEqual([
      'dag_id: dag_id is required',
    ]);
    expect(problems(json([1, 2])).map((p) => p.reason)).toEqual([
      "a DAG must be an object (the file's top level)",
    ]);
  });

  it('reports an unknown operator naming the task and the operators we have', () => {
    const [problem] = problems(
      json({ dag_id: 'd', tasks: [{ task_id: 'py', operator: 'python' }] }),
    );
    expect(problem).toMatchObject({ taskId: 'py', path: 'tasks[0].operator', line: 6, column: 7 });
    expect(problem!.reason).toContain('unknown operator "python"; expected one of bash, empty');
  });

  it('requires bash_command for a bash task', () => {
    expect(
      problems(json({ dag_id: 'd', tasks: [{ task_id: 'run', operator: 'bash' }] }))[0],
    ).toMatchObject({ taskId: 'run', path: 'tasks[0].bash_command' });
  });

  it('refuses a bash_command Linux could never start, counting its bytes, not its characters', () => {
    const withCommand = (bash_command: string) =>
      json({ dag_id: 'd', tasks: [{ task_id: 'run', operator: 'bash', bash_command }] });
    const limit = LIMITS.bashCommandBytes;
    expect(parseDagSource(withCommand(`true #${'x'.repeat(limit - 6)}`), 'd.json').ok).toBe(true);
    expect(parseDagSource(withCommand('é'.repeat(limit / 2)), 'd.json').ok).toBe(true);
    const [problem] = problems(withCommand(`true #${'x'.repeat(limit - 5)}`));
    expect(problem).toMatchObject({ taskId: 'run', path: 'tasks[0].bash_command' });
    expect(problem!.reason).toContain(
      `bash_command is ${limit + 1} bytes of UTF-8, more than the ${limit} a task can start with`,
    );
    // Half as many characters as bytes allowed, but two bytes each.
    expect(problems(withCommand('é'.repeat(limit / 2 + 1)))[0]!.reason).toContain(
      `bash_command is ${limit + 2} bytes of UTF-8`,
    );
  });

  it('leaves max_active_tasks out of the document of a file without it, so such a file keeps its hash and its version', () => {
    const file = {
      dag_id: 'plain',
      schedule: '@daily',
      start_date: '2026-01-01T00:00:00Z',
      tasks: [
        { task_id: 'a', operator: 'bash', bash_command: 'echo a' },
        { task_id: 'b', operator: 'empty', upstream: ['a'] },
      ],
    };
    const parsed = parseDagSource(json(file), 'plain.json');
    if (!parsed.ok) throw new Error('expected the file to be accepted');
    expect(parsed.document).not.toHaveProperty('max_active_tasks');
    // As the release before the field computed it.
    expect(dagHash(parsed.document)).toBe(
      'd64b3f77c505c75076e0d995e86898f1945d4bf1efb0dc9b0f87490f27b54b75',
    );
    const limited = parseDagSource(json({ ...file, max_active_tasks: 2 }), 'plain.json');
    expect(limited.ok && limited.document.max_active_tasks).toBe(2);
    expect(problems(json({ ...file, max_active_tasks: 0 }))[0]!.reason).toContain(
      'max_active_tasks must be at least 1',
    );
  });

  it('says a cron schedule has five fields, and an empty one that null means no schedule', () => {
    const reason = (schedule: string) =>
      problems(json({ dag_id: 'd', schedule, start_date: '2026-01-01T00:00:00Z', tasks: [] }))[0]!
        .reason;
    expect(reason('0 0 * * * *')).toBe(
      'schedule: invalid cron expression "0 0 * * * *": it has 6 fields; a cron schedule has 5 (minute hour day-of-month month day-of-week), e.g. "0 6 * * 1-5"',
    );
    expect(reason('')).toBe(
      'schedule: schedule must not be empty: null for manual runs only, else a cron expression or a preset',
    );
  });

  it('says that start_date needs its offset when it has none', () => {
    const [problem] = problems(
      json({ dag_id: 'd', schedule: '@daily', start_date: '2026-01-01T00:00:00', tasks: [] }),
    );
    expect(problem!.reason).toBe(
      'start_date: start_date must be an ISO 8601 date-time with its offset (Z for UTC), e.g. 2026-01-01T00:00:00Z',
    );
  });

  it.each(['61 * * * *', '* * *', '0 0 * * * *', '@yearly', '0 0 31 2 *'])(
    'refuses the schedule %j',
    (schedule) => {
      const [problem] = problems(
        json({ dag_id: 'd', schedule, start_date: '2026-01-01T00:00:00Z', tasks: [] }),
      );
      expect(problem).toMatchObject({ path: 'schedule', line: 3 });
    },
  );

  it.each(['@hourly', '@daily', '@weekly', '@monthly', '*/15 2-4 * * MON-FRI'])(
    'accepts the schedule %j',
    (schedule) => {
      expect(
        parseDagSource(
          json({ dag_id: 'd', schedule, start_date: '2026-01-01T00:00:00Z', tasks: [] }),
          'd.json',
        ).ok,
      ).toBe(true);
    },
  );

  it('requires start_date for a scheduled DAG', () => {
    expect(problems(json({ dag_id: 'd', schedule: '@daily', tasks: [] }))[0]!.reason).toContain(
      'a scheduled DAG needs start_date',
    );
  });

  it('gives the line and column of a JSON syntax error', () => {
    const [problem] = problems('{\n  "dag_id": "d",\n  "tasks": [,]\n}');
    expect(problem).toMatchObject({ line: 3, column: 13 });
    expect(problem!.reason).toBe("invalid JSON: Unexpected token ',' (ValueExpected)");
  });

  it('points at a trailing comma in JSON and says to remove it', () => {
    const [problem] = problems(
      '{\n  "dag_id": "d",\n  "tasks": [\n    { "task_id": "a", "operator": "empty" },\n  ]\n}',
    );
    expect(problem).toMatchObject({ line: 4, column: 44 });
    expect(problem!.reason).toBe("invalid JSON: a trailing comma before ']'; remove it");
  });

  it('says to quote a YAML value that starts with @, such as a schedule preset', () => {
    const [problem] = problems('dag_id: d\nschedule: @daily\ntasks: []\n', 'dag.yaml');
    expect(problem).toMatchObject({ line: 2, column: 11 });
    expect(problem!.reason).toBe(
      "invalid YAML: Plain value cannot start with reserved character @; quote the value, e.g. '@daily'",
    );
  });

  it('refuses a JSON object with a key twice, at the second, rather than keep the last silently', () => {
    const text = [
      '{',
      '  "dag_id": "d",',
      '  "tasks": [',
      '    { "task_id": "a", "operator": "empty" },',
      '    { "task_id": "b", "operator": "empty", "upstream": ["a"], "upstream": [] }',
      '  ]',
      '}',
    ].join('\n');
    expect(problems(text)).toEqual([
      {
        reason:
          'invalid JSON: "upstream" appears twice in one object (JSON.parse would keep only the last); keep one',
        line: 5,
        column: 63,
      },
    ]);
  });

  it('refuses JSON nested thousands deep with a problem, not a stack overflow', () => {
    const deep = `{"dag_id": "d", "tasks": [], "tags": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    expect(problems(deep)[0]!.path).toBe('tags[0]');
  });

  it('reads the same key in different objects as different keys', () => {
    const text =
      '{"dag_id": "d", "tasks": [{"task_id": "a", "operator": "empty"}, {"task_id": "b", "operator": "empty"}]}';
    expect(parseDagSource(text, 'dag.json').ok).toBe(true);
  });

  it('says an empty file, or one of comments only, is empty', () => {
    const empty = 'the file is empty: a DAG file holds one DAG, with at least dag_id and tasks';
    expect(problems('', 'dag.json')).toEqual([{ reason: empty }]);
    expect(problems(' \n', 'dag.yaml')).toEqual([{ reason: empty }]);
    expect(problems('# later\n', 'dag.yml')).toEqual([{ reason: empty }]);
  });

  it('says a YAML file holds one DAG when it has several documents', () => {
    expect(problems('dag_id: a\ntasks: []\n---\ndag_id: b\ntasks: []\n', 'dag.yaml')).toEqual([
      {
        reason:
          'invalid YAML: the file has several documents (---); a DAG file holds one DAG: put each in a file of its own',
        line: 3,
        column: 1,
      },
    ]);
  });

  it('places truncated JSON at its end', () => {
    expect(problems('{\n  "dag_id": "d",\n')[0]).toMatchObject({ line: 3, column: 1 });
  });

  it('reads YAML and maps schema errors to their line', () => {
    const yaml = [
      'dag_id: yaml_dag',
      'schedule: "0 3 * * *"',
      'start_date: 2026-01-01T00:00:00Z',
      'tasks:',
      '  - task_id: a',
      '    operator: bash',
      '    bash_command: echo a',
      '  - task_id: b',
      '    operator: empty',
      '    retries: -1',
      '',
    ].join('\n');
    expect(problems(yaml, 'dag.yaml')[0]).toMatchObject({
      taskId: 'b',
      path: 'tasks[1].retries',
      line: 10,
      column: 5,
    });
    const fixed = parseDagSource(yaml.replace('retries: -1', 'upstream: [a]'), 'dag.yml');
    expect(fixed.ok && fixed.document.tasks[1]!.upstream).toEqual(['a']);
  });

  it('leaves the echo of the source out of a JSON syntax error in a long line', () => {
    const text = `{"dag_id": "nan", "description": "${'x'.repeat(40)}", "max_active_runs": NaN, "tasks": []}`;
    expect(problems(text)[0]?.reason).toBe("invalid JSON: Unexpected token 'N' (InvalidSymbol)");
  });

  it('reports a YAML alias bomb as a problem instead of throwing', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'dag_id: bomb',
      'tasks: []',
      '',
    ].join('\n');
    expect(problems(bomb, 'dag.yaml')[0]?.reason).toBe(
      'invalid YAML: Excessive alias count indicates a resource exhaustion attack',
    );
  });

  it('gives the position of a YAML syntax error', () => {
    expect(
      problems('dag_id: d\ntasks:\n  - task_id: a\n   operator: empty\n', 'dag.yaml')[0],
    ).toMatchObject({ line: 4 });
  });

  it('refuses unknown keys, so a typo is not silently ignored', () => {
    expect(
      problems(
        json({ dag_id: 'd', tasks: [{ task_id: 'a', operator: 'empty', upstreams: ['x'] }] }),
      )[0],
    ).toMatchObject({ taskId: 'a' });
  });

  it.each([['bad id!'], ['x'.repeat(251)], ['']])('refuses the dag_id %j', (dagId) => {
    expect(problems(json({ dag_id: dagId, tasks: [] }))[0]!.path).toBe('dag_id');
  });

  it('refuses a file over the size cap with a clear error', () => {
    const [problem] = problems(' '.repeat(MAX_SOURCE_BYTES + 1));
    expect(problem!.reason).toContain(`at most ${MAX_SOURCE_BYTES} bytes`);
  });

  it('refuses an unsupported file type', () => {
    expect(problems('{}', 'dag.py')[0]!.reason).toContain('unsupported file type');
  });
});

describe('canonicalJson and dagHash', () => {
  it('sorts keys and applies defaults', () => {
    const doc = dagDocumentSchema.parse({
      tasks: [{ operator: 'empty', task_id: 'a' }],
      dag_id: 'd',
    });
    expect(canonicalJson(doc)).toBe(
      '{"catchup":false,"dag_id":"d","max_active_runs":16,"schedule":null,"tags":[],"tasks":[{"operator":"empty","retries":0,"retry_delay_seconds":300,"task_id":"a","trigger_rule":"all_success","upstream":[]}]}',
    );
  });

  it('does not change when tasks, upstream lists or tags are reordered', () => {
    const doc = makeDagDocument({ taskCount: 30, seed: 4 });
    const shuffled = {
      ...doc,
      tags: [...doc.tags].reverse(),
      tasks: [...doc.tasks].reverse().map((t) => ({ ...t, upstream: [...t.upstream].reverse() })),
    };
    expect(dagHash(shuffled)).toBe(dagHash(doc));
  });

  it('changes when the meaning changes', () => {
    const doc = makeDagDocument({ taskCount: 5, seed: 4 });
    expect(dagHash({ ...doc, max_active_runs: doc.max_active_runs + 1 })).not.toBe(dagHash(doc));
  });
});

describe('makeDagDocument', () => {
  it('is deterministic, valid and reaches a target size', () => {
    const doc = makeDagDocument({ targetBytes: 40_000, seed: 7 });
    expect(makeDagDocument({ targetBytes: 40_000, seed: 7 })).toEqual(doc);
    const bytes = JSON.stringify(doc).length;
    expect(bytes).toBeGreaterThanOrEqual(40_000);
    expect(bytes).toBeLessThan(44_000);
    expect(doc.tasks.some((t) => t.upstream.length > 1)).toBe(true);
  });
});
