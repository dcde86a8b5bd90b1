/**
 * The command line of `pnpm db:clean` (node:util's parseArgs): its options, one table for the
 * parser, `--help` and the README (scripts/docs.ts), and what a command line asks for.
 */
import { parseArgs } from 'node:util';
import {
  CLEAN_TABLES,
  DEFAULT_CLEAN_BATCH_SIZE,
  type CleanCounts,
  type CleanTable,
} from './clean.ts';

export const MAX_CLEAN_BATCH_SIZE = 100_000;

interface OptionDoc {
  /** As the README and --help show it. */
  flags: string;
  description: string;
}

/** Every option, for the parser (`parse`) and the docs (`doc`). */
export const CLEAN_OPTIONS = {
  'clean-before-timestamp': {
    parse: { type: 'string' },
    doc: {
      flags: '--clean-before-timestamp <date-time>',
      description:
        'required: what ended before this moment goes. An ISO 8601 date-time with its offset (`2026-06-01T00:00:00Z`, `2026-06-01T02:00:00+02:00`) or a date (`2026-06-01`: midnight UTC)',
    },
  },
  tables: {
    parse: { type: 'string' },
    doc: {
      flags: '--tables <names>',
      description: `only these tables, comma-separated: ${CLEAN_TABLES.join(', ')} (default: all)`,
    },
  },
  'dry-run': {
    parse: { type: 'boolean' },
    doc: {
      flags: '--dry-run',
      description: 'count per table what would be deleted, delete nothing',
    },
  },
  yes: {
    parse: { type: 'boolean', short: 'y' },
    doc: {
      flags: '-y, --yes',
      description:
        'delete without asking; needed when stdin is not a terminal (cron, CI), else the command refuses',
    },
  },
  'batch-size': {
    parse: { type: 'string' },
    doc: {
      flags: '--batch-size <n>',
      description: `rows deleted per statement, each its own short transaction (default ${DEFAULT_CLEAN_BATCH_SIZE}; 1–${MAX_CLEAN_BATCH_SIZE})`,
    },
  },
  help: {
    parse: { type: 'boolean', short: 'h' },
    doc: { flags: '-h, --help', description: 'show this help' },
  },
} as const satisfies Record<
  string,
  { parse: { type: 'string' | 'boolean'; short?: string }; doc: OptionDoc }
>;

export const CLEAN_USAGE = [
  'usage: pnpm db:clean --clean-before-timestamp <date-time> [--tables <names>] [--dry-run] [--yes] [--batch-size <n>]',
  '',
  'Deletes history older than the timestamp: finished runs (with their task instances, tries and',
  'task log folders), event-log rows, DAG versions nothing refers to any more, ended scheduler',
  "jobs. Each DAG's latest run and latest scheduled run, unfinished runs and each DAG's latest",
  'version stay. Asks before deleting unless --yes.',
  '',
  ...Object.values(CLEAN_OPTIONS).map(({ doc }) => `  ${doc.flags.padEnd(38)} ${doc.description}`),
].join('\n');

/** A mistake in the command line (exit status 2). */
export class CleanUsageError extends Error {
  override readonly name = 'CleanUsageError';
}

export type CleanRequest =
  | { help: true }
  | {
      help: false;
      before: Date;
      tables: CleanTable[];
      dryRun: boolean;
      yes: boolean;
      batchSize: number;
    };

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME_WITH_OFFSET =
  /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** The moment `--clean-before-timestamp` names. */
export function parseCleanBefore(raw: string): Date {
  const text = raw.trim();
  const date = DATE_ONLY.test(text)
    ? new Date(`${text}T00:00:00Z`)
    : DATE_TIME_WITH_OFFSET.test(text)
      ? new Date(text.replace(' ', 'T'))
      : null;
  if (date === null || Number.isNaN(date.getTime()))
    throw new CleanUsageError(
      `--clean-before-timestamp ${JSON.stringify(raw)}: give an ISO 8601 date-time with its offset (2026-06-01T00:00:00Z) or a date (2026-06-01)`,
    );
  return date;
}

/** What the command line asks for; CleanUsageError for a mistake in it. */
export function parseCleanArgs(args: readonly string[]): CleanRequest {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: Object.fromEntries(
        Object.entries(CLEAN_OPTIONS).map(([name, option]) => [name, option.parse]),
      ),
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new CleanUsageError((error as Error).message);
  }
  if (values.help === true) return { help: true };
  const rawBefore = values['clean-before-timestamp'];
  if (typeof rawBefore !== 'string')
    throw new CleanUsageError('--clean-before-timestamp is required');
  const before = parseCleanBefore(rawBefore);

  let tables: CleanTable[] = [...CLEAN_TABLES];
  if (typeof values.tables === 'string') {
    const names = values.tables
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const unknown = names.filter((name) => !(CLEAN_TABLES as readonly string[]).includes(name));
    if (names.length === 0 || unknown.length > 0)
      throw new CleanUsageError(
        `--tables ${JSON.stringify(values.tables)}: give one or more of ${CLEAN_TABLES.join(', ')}`,
      );
    tables = CLEAN_TABLES.filter((table) => names.includes(table));
  }

  let batchSize = DEFAULT_CLEAN_BATCH_SIZE;
  if (typeof values['batch-size'] === 'string') {
    const raw = values['batch-size'];
    batchSize = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_CLEAN_BATCH_SIZE)
      throw new CleanUsageError(
        `--batch-size ${JSON.stringify(raw)}: give a whole number from 1 to ${MAX_CLEAN_BATCH_SIZE}`,
      );
  }
  return {
    help: false,
    before,
    tables,
    dryRun: values['dry-run'] === true,
    yes: values.yes === true,
    batchSize,
  };
}

/** The rows of each table (and the run log folders), as the command prints them. */
export function formatCleanCounts(
  counts: CleanCounts,
  options: { tables: readonly CleanTable[]; logsRoot?: string },
): string {
  const rows: [string, number][] = [];
  if (options.tables.includes('dag_run'))
    rows.push(
      ['dag_run', counts.dag_run],
      ['task_instance', counts.task_instance],
      ['task_instance_history', counts.task_instance_history],
    );
  if (options.tables.includes('dag_version')) rows.push(['dag_version', counts.dag_version]);
  if (options.tables.includes('log')) rows.push(['log', counts.log]);
  if (options.tables.includes('job')) rows.push(['job', counts.job]);
  const width = Math.max(...rows.map(([, n]) => String(n).length), 4);
  const lines = [
    'table                   rows',
    ...rows.map(([t, n]) => `${t.padEnd(22)} ${String(n).padStart(width)}`),
  ];
  if (options.tables.includes('dag_run') && options.logsRoot !== undefined)
    lines.push(
      `task log folders of the runs under ${options.logsRoot}: ${counts.task_log_folders}`,
    );
  if (options.tables.includes('dag_version'))
    lines.push('(each dag_version with its serialized_dag and dag_code row)');
  return lines.join('\n');
}
