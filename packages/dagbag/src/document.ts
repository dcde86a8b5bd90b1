import { createHash } from 'node:crypto';
import { closestName } from '@dagbag/config';
import { Cron } from 'croner';
import {
  parse as parseJsonc,
  printParseErrorCode,
  visit as visitJson,
  type ParseError,
} from 'jsonc-parser';
import { LineCounter, isMap, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';

/**
 * The DAG document: the file format described in the README ("DAG files") and, with defaults
 * applied, the serialized form stored in `serialized_dag.data`. The file processor, the API and the
 * cache all validate through this one schema, so a document the processor accepted is one the cache
 * can load.
 */

/** Airflow's KEY_REGEX for dag and task ids (airflow/utils/helpers.py), with its 250-char limit. */
export const IDENTIFIER_PATTERN = /^[a-zA-Z0-9_.-]+$/;
export const MAX_IDENTIFIER_LENGTH = 250;
/** A file larger than this is refused before parsing: no DAG of ours comes near it. */
export const MAX_SOURCE_BYTES = 5 * 1024 * 1024;
export const MAX_TASKS = 10_000;

export const SCHEDULE_PRESETS = ['@hourly', '@daily', '@weekly', '@monthly'] as const;
export const OPERATORS = ['bash', 'empty'] as const;
export const TRIGGER_RULES = [
  'all_success',
  'all_done',
  'one_success',
  'one_failed',
  'none_failed',
] as const;

export type TriggerRule = (typeof TRIGGER_RULES)[number];
export type Operator = (typeof OPERATORS)[number];

/** One problem with a DAG file or document, positioned where the source allows it. */
export interface DagProblem {
  reason: string;
  /** 1-based line in the source file. */
  line?: number;
  /** 1-based column in the source file. */
  column?: number;
  /** Where in the document, e.g. `tasks[2].upstream[0]`. */
  path?: string;
  taskId?: string;
}

const identifier = (what: string) =>
  z
    .string({
      error: (issue) =>
        issue.input === undefined ? `${what} is required` : `${what} must be a string`,
    })
    .min(1, `${what} must not be empty`)
    .max(MAX_IDENTIFIER_LENGTH, `${what} must be at most ${MAX_IDENTIFIER_LENGTH} characters`)
    .regex(IDENTIFIER_PATTERN, `${what} may contain only letters, digits, '_', '.' and '-'`);

/**
 * Verdicts on cron expressions already checked: a DAG cache validates every version it loads, and
 * versions of one DAG share their schedule, so parsing it again each time (croner) was a visible
 * part of a miss. Bounded: cleared when full.
 */
const cronVerdicts = new Map<string, string | undefined>();
const MAX_CRON_VERDICTS = 1000;

function cronProblem(expression: string): string | undefined {
  return remembered(cronVerdicts, expression, checkCron);
}

/** `check(key)`, remembered in `verdicts` (cleared when it holds MAX_CRON_VERDICTS). */
function remembered<T>(verdicts: Map<string, T>, key: string, check: (key: string) => T): T {
  if (verdicts.has(key)) return verdicts.get(key)!;
  const verdict = check(key);
  if (verdicts.size >= MAX_CRON_VERDICTS) verdicts.clear();
  verdicts.set(key, verdict);
  return verdict;
}

function checkCron(expression: string): string | undefined {
  // croner's own message for a wrong count speaks of its 6- and 7-part modes, which we refuse.
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5)
    return `invalid cron expression ${JSON.stringify(expression)}: it has ${fields} field${fields === 1 ? '' : 's'}; a cron schedule has 5 (minute hour day-of-month month day-of-week), e.g. "0 6 * * 1-5"`;
  try {
    const job = new Cron(expression, { paused: true, mode: '5-part' });
    const next = job.nextRun();
    job.stop();
    return next === null ? `cron expression ${JSON.stringify(expression)} never fires` : undefined;
  } catch (error) {
    return `invalid cron expression ${JSON.stringify(expression)}: ${(error as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

const scheduleSchema = z
  .string({
    error: `schedule must be null, a cron expression or one of ${SCHEDULE_PRESETS.join(', ')}`,
  })
  .nullable()
  .default(null)
  .superRefine((value, ctx) => {
    if (value === null || (SCHEDULE_PRESETS as readonly string[]).includes(value)) return;
    if (value.trim() === '') {
      ctx.addIssue({
        code: 'custom',
        message:
          'schedule must not be empty: null for manual runs only, else a cron expression or a preset',
      });
      return;
    }
    if (value.startsWith('@')) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown schedule preset ${JSON.stringify(value)}; expected one of ${SCHEDULE_PRESETS.join(', ')}`,
      });
      return;
    }
    const problem = cronProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * Every bound and default of a document, in one place: the schema below and isValidDocument (the
 * cache's one-pass check) both read them.
 */
export const LIMITS = {
  /**
   * UTF-8 bytes. Linux hands a new process at most 128 KiB (131,072 bytes with the final NUL) in
   * any one argument or environment string, and the command travels in one: a longer one could
   * never start. The executor's own test starts a command of exactly this size.
   */
  bashCommandBytes: 131_000,
  retries: 100,
  retryDelaySeconds: 86_400,
  executionTimeoutSeconds: 7 * 86_400,
  descriptionLength: 10_000,
  maxActiveRuns: 10_000,
  maxActiveTasks: 10_000,
  tags: 100,
  tagLength: 100,
} as const;
/**
 * max_active_tasks of a DAG whose file leaves it out (Airflow's max_active_tasks_per_dag). Not
 * written into the document as DEFAULTS are: a file without the field keeps the hash, and so the
 * version, it had before the field existed.
 */
export const DEFAULT_MAX_ACTIVE_TASKS = 16;
export const DEFAULTS = {
  trigger_rule: 'all_success',
  retries: 0,
  retry_delay_seconds: 300,
  max_active_runs: 16,
  catchup: false,
} as const;

const intIn = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);
const nonNegativeInt = (what: string, max: number) => intIn(what, 0, max);
const text = (what: string, max: number) =>
  z.string({ error: `${what} must be text` }).max(max, `${what} must be at most ${max} characters`);
/** `null`, `a string`, `an object`: what a value of the wrong type was, for a message. */
function valueKind(value: unknown): string {
  if (value === null) return 'null';
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
/** Whether a bash_command is within LIMITS.bashCommandBytes (a UTF-16 unit is 1-3 UTF-8 bytes). */
const fitsBashCommand = (command: string): boolean =>
  command.length * 3 <= LIMITS.bashCommandBytes ||
  Buffer.byteLength(command, 'utf8') <= LIMITS.bashCommandBytes;
const flag = (what: string) => z.boolean({ error: `${what} must be true or false` });

/** A misspelt field names the fields there are; a non-object says what was expected. */
function objectProblem(
  issue: { code?: string; keys?: readonly string[]; input?: unknown },
  what: string,
  fields: object,
): string | undefined {
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    const unknown = issue.keys
      .map((key) => {
        const meant = closestName(key, Object.keys(fields));
        return `${JSON.stringify(key)}${meant ? ` (did you mean ${JSON.stringify(meant)}?)` : ''}`;
      })
      .join(', ');
    return `unknown ${what} field${issue.keys.length > 1 ? 's' : ''} ${unknown}; expected ${Object.keys(fields).join(', ')}`;
  }
  if (issue.code === 'invalid_type')
    return `a ${what} must be an object (${what === 'DAG' ? "the file's top level" : 'one entry of tasks'})`;
  return undefined;
}

const taskFields = {
  task_id: identifier('task_id'),
  operator: z.enum(OPERATORS, {
    error: (issue) =>
      `unknown operator ${JSON.stringify(issue.input)}; expected one of ${OPERATORS.join(', ')}`,
  }),
  bash_command: z
    .string({ error: 'bash_command must be text' })
    .min(1, 'bash_command must not be empty')
    .refine(fitsBashCommand, {
      error: (issue) =>
        `bash_command is ${Buffer.byteLength(issue.input as string, 'utf8')} bytes of UTF-8, more than the ${LIMITS.bashCommandBytes} a task can start with (Linux hands a process at most 128 KiB in one string): put the script in a file the command runs`,
    })
    .optional(),
  upstream: z
    .array(identifier('upstream task id'), { error: 'upstream must be a list of task ids' })
    .default([]),
  trigger_rule: z
    .enum(TRIGGER_RULES, {
      error: (issue) =>
        `unknown trigger_rule ${JSON.stringify(issue.input)}; expected one of ${TRIGGER_RULES.join(', ')}`,
    })
    .default(DEFAULTS.trigger_rule),
  retries: nonNegativeInt('retries', LIMITS.retries).default(DEFAULTS.retries),
  retry_delay_seconds: nonNegativeInt('retry_delay_seconds', LIMITS.retryDelaySeconds).default(
    DEFAULTS.retry_delay_seconds,
  ),
  execution_timeout_seconds: intIn(
    'execution_timeout_seconds',
    1,
    LIMITS.executionTimeoutSeconds,
  ).optional(),
};

export const taskDocumentSchema = z
  .strictObject(taskFields, { error: (issue) => objectProblem(issue, 'task', taskFields) })
  .superRefine((task, ctx) => {
    if (task.operator === 'bash' && task.bash_command === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bash_command'],
        message: 'a bash task needs bash_command',
      });
    }
    if (task.operator !== 'bash' && task.bash_command !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bash_command'],
        message: `bash_command is only for bash tasks, not ${task.operator}`,
      });
    }
  });

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const dagFields = {
  dag_id: identifier('dag_id'),
  description: text('description', LIMITS.descriptionLength).optional(),
  schedule: scheduleSchema,
  start_date: z.iso
    .datetime({
      offset: true,
      error:
        'start_date must be an ISO 8601 date-time with its offset (Z for UTC), e.g. 2026-01-01T00:00:00Z',
    })
    .optional(),
  /** The schedule's time zone (IANA name); absent: start_date's offset, else UTC. */
  timezone: z
    .string({ error: 'timezone must be an IANA time zone name, e.g. Europe/Amsterdam' })
    .refine(isTimeZone, {
      error: 'timezone must be an IANA time zone name, e.g. Europe/Amsterdam',
    })
    .optional(),
  max_active_runs: intIn('max_active_runs', 1, LIMITS.maxActiveRuns).default(
    DEFAULTS.max_active_runs,
  ),
  max_active_tasks: intIn('max_active_tasks', 1, LIMITS.maxActiveTasks).optional(),
  catchup: flag('catchup').default(DEFAULTS.catchup),
  /** Airflow's DAG argument: a DAG seen for the first time starts paused. Absent: not paused. */
  is_paused_upon_creation: flag('is_paused_upon_creation').optional(),
  tags: z
    .array(text('a tag', LIMITS.tagLength).min(1, 'a tag must not be empty'), {
      error: 'tags must be a list of strings',
    })
    .max(LIMITS.tags, `a DAG may have at most ${LIMITS.tags} tags`)
    .default([]),
  tasks: z
    .array(taskDocumentSchema, {
      error: (issue) =>
        issue.input === undefined
          ? 'tasks is required: a list of tasks (it may be empty: [])'
          : `tasks must be a list of tasks, not ${valueKind(issue.input)}`,
    })
    .max(MAX_TASKS, `a DAG may have at most ${MAX_TASKS} tasks`),
};

export const dagDocumentSchema = z
  .strictObject(dagFields, { error: (issue) => objectProblem(issue, 'DAG', dagFields) })
  .superRefine((dag, ctx) => {
    if (dag.schedule !== null && dag.start_date === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['start_date'],
        message: 'a scheduled DAG needs start_date',
      });
    }
    for (const problem of graphProblems(dag.tasks)) {
      ctx.addIssue({
        code: 'custom',
        path: problem.path,
        message: problem.message,
        params: { taskId: problem.taskId },
      });
    }
  });

export type DagDocument = z.output<typeof dagDocumentSchema>;
export type TaskDocument = z.output<typeof taskDocumentSchema>;
/** What a file may say: defaults may be left out. */
export type DagDocumentInput = z.input<typeof dagDocumentSchema>;

// ---------------------------------------------------------------------------------------------
// The same checks in one pass, for the cache's loads

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isIdentifier = (value: unknown): value is string =>
  typeof value === 'string' &&
  value.length >= 1 &&
  value.length <= MAX_IDENTIFIER_LENGTH &&
  IDENTIFIER_PATTERN.test(value);
const isIntIn = (value: unknown, min: number, max: number): boolean =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
const isStringUpTo = (value: unknown, min: number, max: number): value is string =>
  typeof value === 'string' && value.length >= min && value.length <= max;
const DAG_FIELD_NAMES = new Set(Object.keys(dagFields));
const TASK_FIELD_NAMES = new Set(Object.keys(taskFields));
const hasOnlyFields = (record: Record<string, unknown>, names: ReadonlySet<string>): boolean => {
  for (const key in record) if (!names.has(key)) return false;
  return true;
};

/** Verdicts on time zone names and start dates (an `Intl.DateTimeFormat` each is costly). */
const timeZoneVerdicts = new Map<string, boolean>();
const startDateVerdicts = new Map<string, boolean>();
const startDateSchema = dagFields.start_date.unwrap();
const isStartDate = (value: string): boolean => startDateSchema.safeParse(value).success;
/** `tasks` of a task document: checks one, filling its defaults in place. */
function isValidTask(task: unknown): boolean {
  if (!isRecord(task) || !hasOnlyFields(task, TASK_FIELD_NAMES)) return false;
  if (!isIdentifier(task.task_id)) return false;
  const { operator } = task;
  if (operator !== 'bash' && operator !== 'empty') return false;
  const command = task.bash_command;
  if (command === undefined ? operator === 'bash' : operator !== 'bash') return false;
  if (command !== undefined && !(isStringUpTo(command, 1, Infinity) && fitsBashCommand(command)))
    return false;
  // Each upstream id must name a task (isSoundGraph), and every task_id is an identifier.
  if (task.upstream === undefined) task.upstream = [];
  else if (!Array.isArray(task.upstream)) return false;
  if (task.trigger_rule === undefined) task.trigger_rule = DEFAULTS.trigger_rule;
  else if (!(TRIGGER_RULES as readonly unknown[]).includes(task.trigger_rule)) return false;
  if (task.retries === undefined) task.retries = DEFAULTS.retries;
  else if (!isIntIn(task.retries, 0, LIMITS.retries)) return false;
  if (task.retry_delay_seconds === undefined)
    task.retry_delay_seconds = DEFAULTS.retry_delay_seconds;
  else if (!isIntIn(task.retry_delay_seconds, 0, LIMITS.retryDelaySeconds)) return false;
  const timeout = task.execution_timeout_seconds;
  return timeout === undefined || isIntIn(timeout, 1, LIMITS.executionTimeoutSeconds);
}

/**
 * Duplicate ids, unknown or repeated upstream ids and cycles, as graphProblems finds them, as one
 * verdict: index arrays instead of per-task sets, paths and messages (Kahn's algorithm drains
 * every task exactly when there is no cycle).
 */
function isSoundGraph(tasks: readonly TaskDocument[]): boolean {
  const count = tasks.length;
  const indexById = new Map<string, number>();
  let edges = 0;
  for (let i = 0; i < count; i++) {
    const task = tasks[i]!;
    if (indexById.has(task.task_id)) return false;
    indexById.set(task.task_id, i);
    edges += task.upstream.length;
  }
  // The upstream task of every edge, task by task; then each task's downstream edges in one
  // array (task i's are downstream[start[i]] .. downstream[start[i + 1] - 1]).
  const upstreamOf = new Int32Array(edges);
  const start = new Int32Array(count + 1);
  const waiting = new Int32Array(count);
  for (let i = 0, edge = 0; i < count; i++) {
    const upstream = tasks[i]!.upstream;
    waiting[i] = upstream.length;
    for (let j = 0; j < upstream.length; j++, edge++) {
      const at = indexById.get(upstream[j]!);
      if (at === undefined) return false;
      for (let k = 0; k < j; k++) if (upstream[k] === upstream[j]) return false;
      upstreamOf[edge] = at;
      start[at + 1]!++;
    }
  }
  for (let i = 0; i < count; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, count);
  const downstream = new Int32Array(edges);
  for (let i = 0, edge = 0; i < count; i++) {
    for (let j = waiting[i]!; j > 0; j--, edge++) downstream[fill[upstreamOf[edge]!]!++] = i;
  }
  // Kahn's algorithm: every task drains exactly when there is no cycle.
  const ready = new Int32Array(count);
  let tail = 0;
  for (let i = 0; i < count; i++) if (waiting[i] === 0) ready[tail++] = i;
  for (let head = 0; head < tail; head++) {
    const task = ready[head]!;
    for (let d = start[task]!; d < start[task + 1]!; d++) {
      const next = downstream[d]!;
      if (--waiting[next]! === 0) ready[tail++] = next;
    }
  }
  return tail === count;
}

/**
 * Whether `input` satisfies every check of `dagDocumentSchema`, in one pass over it with no
 * intermediate objects: the check a cache miss runs (a zod parse copies the whole document and
 * builds its checks per value, a fifth of a miss). The defaults the schema would apply are
 * written into `input` itself, so it must be the caller's own (fresh from JSON.parse). It
 * accepts exactly what the schema accepts (document.test.ts holds them to the same verdict over
 * the bad-document fixtures and generated mutations); on `false` the caller runs the schema for
 * its messages.
 */
export function isValidDocument(input: unknown): input is DagDocument {
  if (!isRecord(input) || !hasOnlyFields(input, DAG_FIELD_NAMES)) return false;
  if (!isIdentifier(input.dag_id)) return false;
  const { description, timezone, start_date: startDate } = input;
  if (description !== undefined && !isStringUpTo(description, 0, LIMITS.descriptionLength))
    return false;
  if (input.schedule === undefined) input.schedule = null;
  const schedule = input.schedule;
  if (schedule !== null) {
    if (typeof schedule !== 'string') return false;
    if (!(SCHEDULE_PRESETS as readonly string[]).includes(schedule)) {
      if (schedule.startsWith('@') || cronProblem(schedule) !== undefined) return false;
    }
    if (startDate === undefined) return false;
  }
  if (
    startDate !== undefined &&
    !(typeof startDate === 'string' && remembered(startDateVerdicts, startDate, isStartDate))
  )
    return false;
  if (
    timezone !== undefined &&
    !(typeof timezone === 'string' && remembered(timeZoneVerdicts, timezone, isTimeZone))
  )
    return false;
  if (input.max_active_runs === undefined) input.max_active_runs = DEFAULTS.max_active_runs;
  else if (!isIntIn(input.max_active_runs, 1, LIMITS.maxActiveRuns)) return false;
  const maxActiveTasks = input.max_active_tasks;
  if (maxActiveTasks !== undefined && !isIntIn(maxActiveTasks, 1, LIMITS.maxActiveTasks))
    return false;
  if (input.catchup === undefined) input.catchup = DEFAULTS.catchup;
  else if (typeof input.catchup !== 'boolean') return false;
  const paused = input.is_paused_upon_creation;
  if (paused !== undefined && typeof paused !== 'boolean') return false;
  if (input.tags === undefined) input.tags = [];
  const { tags, tasks } = input;
  if (!Array.isArray(tags) || tags.length > LIMITS.tags) return false;
  for (const tag of tags as unknown[]) if (!isStringUpTo(tag, 1, LIMITS.tagLength)) return false;
  if (!Array.isArray(tasks) || tasks.length > MAX_TASKS) return false;
  for (const task of tasks as unknown[]) if (!isValidTask(task)) return false;
  return isSoundGraph(tasks as TaskDocument[]);
}

/** What the graph checks read of a task. */
interface GraphTask {
  task_id: string;
  upstream: readonly string[];
}

/**
 * The graph of a document that failed the schema, where it can still be read: every task has a
 * string task_id and upstream is absent or a list of strings. Lets a file with a bad field and a
 * cycle report both at once instead of the cycle only after the field is fixed.
 */
function readableGraph(input: unknown): GraphTask[] | undefined {
  const tasks = (input as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) return undefined;
  const graph: GraphTask[] = [];
  for (const task of tasks) {
    const { task_id: taskId, upstream = [] } = (task ?? {}) as {
      task_id?: unknown;
      upstream?: unknown;
    };
    if (
      typeof taskId !== 'string' ||
      !Array.isArray(upstream) ||
      !upstream.every((id) => typeof id === 'string')
    )
      return undefined;
    graph.push({ task_id: taskId, upstream });
  }
  return graph;
}

interface GraphProblem {
  path: (string | number)[];
  message: string;
  taskId: string;
}

/** At most this many cycles are reported: one is enough to fix, a hundred is noise. */
const MAX_REPORTED_CYCLES = 5;

/**
 * Duplicate ids, unknown or repeated upstream ids and cycles, each naming its task. Cycles are
 * found by an iterative depth-first search (a recursive one overflows the stack on long chains)
 * and reported with their path in the direction work flows: `a -> b -> a` means b waits for a.
 */
function graphProblems(tasks: readonly GraphTask[]): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const indexById = new Map<string, number>();
  tasks.forEach((task, index) => {
    if (indexById.has(task.task_id)) {
      problems.push({
        path: ['tasks', index, 'task_id'],
        taskId: task.task_id,
        message: `duplicate task_id ${JSON.stringify(task.task_id)}`,
      });
    } else {
      indexById.set(task.task_id, index);
    }
  });
  tasks.forEach((task, index) => {
    const seen = new Set<string>();
    task.upstream.forEach((upstreamId, position) => {
      const path = ['tasks', index, 'upstream', position];
      if (seen.has(upstreamId)) {
        problems.push({
          path,
          taskId: task.task_id,
          message: `task ${JSON.stringify(task.task_id)} lists upstream ${JSON.stringify(upstreamId)} twice`,
        });
      } else if (!indexById.has(upstreamId)) {
        problems.push({
          path,
          taskId: task.task_id,
          message: `task ${JSON.stringify(task.task_id)} has unknown upstream ${JSON.stringify(upstreamId)}`,
        });
      }
      seen.add(upstreamId);
    });
  });
  if (problems.length > 0) return problems;

  // Walk from each task towards its upstreams; a grey node met again closes a cycle.
  const WHITE = 0,
    GREY = 1,
    BLACK = 2;
  const color = new Uint8Array(tasks.length);
  let cycles = 0;
  for (let start = 0; start < tasks.length && cycles < MAX_REPORTED_CYCLES; start++) {
    if (color[start] !== WHITE) continue;
    const stack: { index: number; next: number }[] = [{ index: start, next: 0 }];
    color[start] = GREY;
    while (stack.length > 0 && cycles < MAX_REPORTED_CYCLES) {
      const frame = stack[stack.length - 1]!;
      const upstream = tasks[frame.index]!.upstream;
      if (frame.next >= upstream.length) {
        color[frame.index] = BLACK;
        stack.pop();
        continue;
      }
      const target = indexById.get(upstream[frame.next++]!)!;
      if (color[target] === WHITE) {
        color[target] = GREY;
        stack.push({ index: target, next: 0 });
      } else if (color[target] === GREY) {
        const from = stack.findIndex((f) => f.index === target);
        // The stack runs downstream -> upstream; reverse it so the path reads in execution order.
        const ids = stack
          .slice(from)
          .map((f) => tasks[f.index]!.task_id)
          .reverse();
        const taskId = tasks[target]!.task_id;
        problems.push({
          path: ['tasks', target, 'upstream'],
          taskId,
          message: `tasks form a cycle: ${[...ids, ids[0]].join(' -> ')}`,
        });
        cycles++;
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Canonical form and hash

function sortedTask(task: TaskDocument): TaskDocument {
  return { ...task, upstream: [...task.upstream].sort() };
}

/**
 * JSON with every object's keys sorted and undefined members left out. Written as plain loops
 * (no entries/filter/map/join arrays): the cache hashes every document it loads with it, where it
 * replaces a validation that costs several times more.
 */
function stableStringify(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += stableStringify(value[i]) ?? '';
    }
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + stableStringify(member);
  }
  return out + '}';
}

const byTaskId = (a: TaskDocument, b: TaskDocument) =>
  a.task_id < b.task_id ? -1 : a.task_id > b.task_id ? 1 : 0;

/** The keys of a document and of a task in canonical (sorted) order, each written once. */
const DAG_KEYS = Object.keys(dagFields).sort();
const TASK_KEYS = Object.keys(taskFields).sort();
const MEMBER_PREFIX = new Map([...DAG_KEYS, ...TASK_KEYS].map((k) => [k, `${JSON.stringify(k)}:`]));

function hasOnlyKeys(value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const own = Object.keys(value);
  return own.length <= keys.length && own.every((key) => keys.includes(key));
}

/** Writes a record's known keys in sorted order, each value through `write`. */
function writeKnown(
  record: Record<string, unknown>,
  keys: readonly string[],
  write: (key: string, value: unknown) => string,
): string {
  let out = '{';
  for (const key of keys) {
    const value = record[key];
    if (value === undefined) continue;
    if (out.length > 1) out += ',';
    out += MEMBER_PREFIX.get(key)! + write(key, value);
  }
  return out + '}';
}

const writeTaskMember = (key: string, value: unknown): string =>
  key === 'upstream'
    ? stableStringify([...(value as string[])].sort())!
    : (stableStringify(value) ?? 'undefined');

/**
 * The canonical JSON of a validated document: keys sorted, defaults present, and tasks, upstream
 * lists and tags sorted, because their order means nothing. Reordering a file therefore makes no
 * new version; any change of meaning does.
 *
 * Documents of the schema's shape (every version the processor stored) take a path that writes
 * the known keys in their precomputed order instead of sorting each object's keys: the cache
 * hashes every document it loads. Anything else takes the generic path; both give the same text.
 */
export function canonicalJson(doc: DagDocument): string {
  if (
    !hasOnlyKeys(doc, DAG_KEYS) ||
    !Array.isArray(doc.tags) ||
    !Array.isArray(doc.tasks) ||
    !doc.tasks.every((task) => hasOnlyKeys(task, TASK_KEYS) && Array.isArray(task.upstream))
  ) {
    const tasks = [...doc.tasks].sort(byTaskId).map(sortedTask);
    return stableStringify({ ...doc, tags: [...doc.tags].sort(), tasks })!;
  }
  return writeKnown(doc, DAG_KEYS, (key, value) => {
    if (key === 'tags') return stableStringify([...(value as string[])].sort())!;
    if (key !== 'tasks') return stableStringify(value) ?? 'undefined';
    const tasks = [...(value as TaskDocument[])].sort(byTaskId);
    let out = '[';
    for (let i = 0; i < tasks.length; i++) {
      if (i > 0) out += ',';
      out += writeKnown(tasks[i] as unknown as Record<string, unknown>, TASK_KEYS, writeTaskMember);
    }
    return out + ']';
  });
}

/** `dag_hash`: sha256 (hex) of the canonical JSON. */
export function dagHash(doc: DagDocument): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Parsing files

export type ParseResult =
  { ok: true; document: DagDocument; hash: string } | { ok: false; errors: DagProblem[] };

type PathKey = PropertyKey;

/** `tasks[2].upstream[0]` */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function taskIdAt(input: unknown, path: readonly PathKey[]): string | undefined {
  if (path[0] !== 'tasks' || typeof path[1] !== 'number') return undefined;
  const tasks = (input as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) return undefined;
  const id = (tasks[path[1]] as { task_id?: unknown } | undefined)?.task_id;
  return typeof id === 'string' ? id : undefined;
}

/** zod issues as problems, naming the task where the path goes through one. */
export function problemsFromZod(error: z.ZodError, input: unknown): DagProblem[] {
  return error.issues.map((issue) => {
    const params =
      issue.code === 'custom' ? (issue.params as { taskId?: string } | undefined) : undefined;
    const taskId = params?.taskId ?? taskIdAt(input, issue.path);
    const path = formatPath(issue.path);
    const problem: DagProblem = { reason: path ? `${path}: ${issue.message}` : issue.message };
    if (path) problem.path = path;
    if (taskId !== undefined) problem.taskId = taskId;
    return problem;
  });
}

/** Where a (possibly missing) path lives in the source: the deepest node that exists. */
function positionOf(
  doc: Document,
  path: readonly PathKey[],
  lines: LineCounter,
): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = (node as Node | null)?.range?.[0];
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => (item.key as { value?: unknown } | null)?.value === key || item.key === key,
      );
      if (!pair) break;
      // Point at the key for a bad value: that is where a person looks.
      offset = (pair.key as Node | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key];
      if (item === undefined) break;
      node = item;
      offset = (item as Node).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  if (offset === undefined) return undefined;
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

function positionAtOffset(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * V8 gives a position for only some JSON syntax errors ("Unexpected token" has none), so the
 * position comes from jsonc-parser's scanner in strict mode; the wording stays V8's, minus its
 * echo of the source.
 */
function jsonSyntaxProblem(text: string, error: SyntaxError): DagProblem {
  const message = error.message
    .replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '')
    .replace(/ in JSON at position \d+.*$/s, '');
  const errors: ParseError[] = [];
  parseJsonc(text, errors, {
    disallowComments: true,
    allowTrailingComma: false,
    allowEmptyContent: false,
  });
  const offset = errors[0]?.offset ?? text.length;
  // `[a, b,]`, the commonest slip of a hand-edited JSON file: point at the comma, not the bracket.
  const closing = text[offset];
  if (closing === ']' || closing === '}') {
    let before = offset - 1;
    while (before >= 0 && /\s/.test(text[before]!)) before--;
    if (text[before] === ',')
      return {
        reason: `invalid JSON: a trailing comma before '${closing}'; remove it`,
        ...positionAtOffset(text, before),
      };
  }
  const detail = errors[0] ? ` (${printParseErrorCode(errors[0].error)})` : '';
  return { reason: `invalid JSON: ${message}${detail}`, ...positionAtOffset(text, offset) };
}

const EMPTY_FILE = 'the file is empty: a DAG file holds one DAG, with at least dag_id and tasks';

/** The yaml package's message, without its position (the problem has it), with the fix. */
function yamlReason(message: string): string {
  const reason = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (reason.startsWith('Source contains multiple documents'))
    return 'the file has several documents (---); a DAG file holds one DAG: put each in a file of its own';
  // `schedule: @daily`: YAML reserves @ at the start of a plain value.
  if (reason.endsWith('reserved character @')) return `${reason}; quote the value, e.g. '@daily'`;
  return reason;
}

/**
 * The first key written twice in one object of a JSON text: JSON.parse keeps the last without a
 * word, so `"upstream"` given twice in a task lost the first list. (YAML refuses it itself.)
 */
function duplicateJsonKey(text: string): DagProblem | undefined {
  const objects: Set<string>[] = [];
  let found: DagProblem | undefined;
  try {
    visitJson(text, {
      onObjectBegin: () => void objects.push(new Set()),
      onObjectEnd: () => void objects.pop(),
      onObjectProperty: (key, offset, _length, startLine, startCharacter) => {
        const keys = objects[objects.length - 1]!;
        if (found === undefined && keys.has(key))
          found = {
            reason: `invalid JSON: ${JSON.stringify(key)} appears twice in one object (JSON.parse would keep only the last); keep one`,
            line: startLine + 1,
            column: startCharacter + 1,
          };
        keys.add(key);
      },
    });
  } catch (error) {
    // jsonc-parser recurses: nesting thousands deep overflows its stack. No field of a DAG
    // nests like that, so the schema refuses such a document anyway.
    if (error instanceof RangeError) return undefined;
    throw error;
  }
  return found;
}

function sourceKind(fileName: string): 'json' | 'yaml' | undefined {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.yaml') || lower.endsWith('.yml')) return 'yaml';
  return undefined;
}

/**
 * Parses and validates one DAG file (`.json`, `.yaml`, `.yml`). Never throws for bad input: every
 * problem comes back with its position where the source allows (JSON syntax errors, and schema
 * errors mapped from their path back to the line of the offending key).
 */
export function parseDagSource(text: string, fileName: string): ParseResult {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_SOURCE_BYTES) {
    return {
      ok: false,
      errors: [
        { reason: `file is ${bytes} bytes; a DAG file may be at most ${MAX_SOURCE_BYTES} bytes` },
      ],
    };
  }
  const kind = sourceKind(fileName);
  if (kind === undefined) {
    return {
      ok: false,
      errors: [
        {
          reason: `unsupported file type ${JSON.stringify(fileName)}; expected .json, .yaml or .yml`,
        },
      ],
    };
  }

  if (text.trim() === '') return { ok: false, errors: [{ reason: EMPTY_FILE }] };

  let input: unknown;
  let positions: Document | undefined;
  const lines = new LineCounter();
  if (kind === 'json') {
    try {
      input = JSON.parse(text);
    } catch (error) {
      return { ok: false, errors: [jsonSyntaxProblem(text, error as SyntaxError)] };
    }
    const duplicate = duplicateJsonKey(text);
    if (duplicate) return { ok: false, errors: [duplicate] };
  } else {
    positions = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
    if (positions.errors.length > 0) {
      return {
        ok: false,
        errors: positions.errors.map((e) => {
          const problem: DagProblem = {
            reason: `invalid YAML: ${yamlReason(e.message)}`,
          };
          if (e.linePos) {
            problem.line = e.linePos[0].line;
            problem.column = e.linePos[0].col;
          }
          return problem;
        }),
      };
    }
    try {
      input = positions.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // The yaml package throws (ReferenceError) when aliases expand past maxAliasCount.
      return { ok: false, errors: [{ reason: `invalid YAML: ${(error as Error).message}` }] };
    }
    // Comments only: YAML's empty document.
    if (positions.contents === null) return { ok: false, errors: [{ reason: EMPTY_FILE }] };
  }

  const parsed = dagDocumentSchema.safeParse(input);
  if (parsed.success) return { ok: true, document: parsed.data, hash: dagHash(parsed.data) };

  // Only now pay for a positioned parse of a JSON file: YAML 1.2 reads JSON, with ranges.
  if (positions === undefined)
    positions = parseDocument(text, { lineCounter: lines, uniqueKeys: false });
  const errors = problemsFromZod(parsed.error, input).map((problem, i) => {
    const at = positionOf(positions, parsed.error.issues[i]!.path, lines);
    return at ? { ...problem, ...at } : problem;
  });
  // The schema's graph checks only run on a document that passed the rest: run them here too.
  const graph = readableGraph(input);
  for (const problem of graph ? graphProblems(graph) : []) {
    const path = formatPath(problem.path);
    const reason = `${path}: ${problem.message}`;
    if (errors.some((error) => error.reason === reason)) continue;
    errors.push({
      reason,
      path,
      taskId: problem.taskId,
      ...positionOf(positions, problem.path, lines),
    });
  }
  return { ok: false, errors };
}

/**
 * The time zone a DAG's schedule is read in: its `timezone`, else the offset written in its
 * start_date (`2026-01-01T00:00:00+01:00` -> `+01:00`), else null (UTC).
 */
export function scheduleTimezone(dag: Pick<DagDocument, 'timezone' | 'start_date'>): string | null {
  if (dag.timezone !== undefined) return dag.timezone;
  const offset = dag.start_date === undefined ? null : /([+-]\d{2}):?(\d{2})$/.exec(dag.start_date);
  if (offset === null || (offset[1]!.slice(1) === '00' && offset[2] === '00')) return null;
  return `${offset[1]}:${offset[2]}`;
}
