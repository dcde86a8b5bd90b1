/**
 * The README's configuration and metrics tables, generated from the code (the settings shapes and
 * the metric registry), and the options of its commands (`dagbag`, `pnpm db:clean`).
 * `pnpm docs:generate` rewrites them; docs/readme.test.ts fails when they differ.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { API_OWN_SETTINGS } from '@dagbag/api';
import { buildProgram } from '@dagbag/cli';
import { SHARED_SETTINGS, describeSettings, repoRoot, type EnvShape } from '@dagbag/config';
import {
  CACHE_VARIABLES,
  DAG_FIELD_DOCS,
  TASK_FIELD_DOCS,
  cacheSettingsShape,
  type FieldDoc,
} from '@dagbag/dagbag';
import { CLEAN_OPTIONS, DATABASE_SETTINGS } from '@dagbag/db';
import { LOGGER_SETTINGS } from '@dagbag/logger';
import { ALL_METRICS, prometheusName } from '@dagbag/metrics';
import { SCHEDULER_OWN_SETTINGS } from '@dagbag/scheduler';
import { telemetrySettings } from '@dagbag/telemetry';

export const README = join(repoRoot(), 'README.md');

function cell(text: string | undefined): string {
  return (text ?? '').replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function settingsTable(shape: EnvShape, omit: readonly string[] = []): string {
  const rows = describeSettings(shape)
    .filter((row) => !omit.includes(row.variable))
    .map(
      (row) =>
        `| \`${row.variable}\` | ${cell(row.default)} | ${cell(row.accepted)} | ${cell(row.description)} |`,
    );
  return ['| variable | default | accepted | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** Both roles' cache variables in one table: a variable both roles read shows both defaults. */
function cacheTable(): string {
  const api = new Map(describeSettings(cacheSettingsShape('api')).map((r) => [r.variable, r]));
  const scheduler = new Map(
    describeSettings(cacheSettingsShape('scheduler')).map((r) => [r.variable, r]),
  );
  const variables = [
    ...new Set(Object.values(CACHE_VARIABLES).flatMap((names) => [names.api, names.scheduler])),
  ];
  const rows = variables.map((variable) => {
    const row = (api.get(variable) ?? scheduler.get(variable))!;
    return `| \`${variable}\` | ${api.get(variable)?.default ?? ''} | ${scheduler.get(variable)?.default ?? ''} | ${cell(row.accepted)} | ${cell(row.description)} |`;
  });
  return [
    '| variable | api default | scheduler default | accepted | meaning |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** Sections of the settings table, in the order an operator meets them. */
function settingsSections(): [title: string, table: string][] {
  const telemetry = { ...telemetrySettings('dagbag-api') };
  return [
    ['REST API (`apps/api`)', settingsTable(API_OWN_SETTINGS)],
    ['Scheduler (`apps/scheduler`)', settingsTable(SCHEDULER_OWN_SETTINGS)],
    ['Database (both apps)', settingsTable(DATABASE_SETTINGS)],
    ['DAG cache (`packages/dagbag`)', cacheTable()],
    [
      'Telemetry (both apps; `METRICS_PORT` defaults to 9464 for the api, 9465 for the scheduler)',
      settingsTable(telemetry),
    ],
    [
      'Shared',
      [
        settingsTable({ ...SHARED_SETTINGS, ...LOGGER_SETTINGS }),
        "| `OTEL_*` | | | the other standard OpenTelemetry variables (headers, timeouts, resource attributes), read by the SDK's exporters |",
      ].join('\n'),
    ],
  ];
}

function metricsTable(): string {
  const rows = ALL_METRICS.map(
    (m) =>
      `| \`${m.name}\` | \`${prometheusName(m)}\` | ${m.kind} | \`${m.unit}\` | ${m.attributes.map((a) => `\`${a}\``).join(', ')} | ${m.emittedBy.join(', ')} | ${cell(m.description)} |`,
  );
  return [
    '| instrument | Prometheus | kind | unit | attributes | emitted by | meaning |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** The DAG file's fields (document-fields.ts of packages/dagbag): the DAG's, then a task's. */
function dagFieldsTables(): string {
  const table = (fields: Record<string, FieldDoc>) =>
    [
      '| field | default | accepted | meaning |',
      '|---|---|---|---|',
      ...Object.entries(fields).map(
        ([name, doc]) =>
          `| \`${name}\` | ${cell(doc.default)} | ${cell(doc.accepted)} | ${cell(doc.meaning)} |`,
      ),
    ].join('\n');
  return `Fields of the DAG (the file's top level):\n\n${table(DAG_FIELD_DOCS)}\n\nFields of each entry of \`tasks\`:\n\n${table(TASK_FIELD_DOCS)}`;
}

/** Every command of the `dagbag` command line with its arguments and options, from commander. */
function cliTable(): string {
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const program = buildProgram({ stdout: sink, stderr: sink, env: {}, cwd: '.' });
  const rows: string[] = [];
  const walk = (command: ReturnType<typeof buildProgram>, prefix: string) => {
    for (const sub of command.commands) {
      const name = `${prefix} ${sub.name()}`.trim();
      if (sub.commands.length > 0) {
        walk(sub, name);
        continue;
      }
      const args = sub.registeredArguments
        .map(
          (arg) =>
            (arg.required ? `<${arg.name()}>` : `[${arg.name()}]`) + (arg.variadic ? '...' : ''),
        )
        .join(' ');
      const options = sub.options
        .map((option) => {
          const choices = option.argChoices ? ` (one of ${option.argChoices.join(', ')})` : '';
          const value: unknown = option.defaultValue;
          const fallback = typeof value === 'string' ? ` (default ${value})` : '';
          return `\`${option.flags}\` ${option.description}${choices}${fallback}`;
        })
        .join('<br>');
      rows.push(
        `| \`dagbag ${name}${args ? ` ${args}` : ''}\` | ${cell(sub.description())} | ${cell(options)} |`,
      );
    }
  };
  walk(program, '');
  return ['| command | what it does | options |', '|---|---|---|', ...rows].join('\n');
}

/** The options of `pnpm db:clean`, from the table its parser and --help read. */
function dbCleanTable(): string {
  const rows = Object.values(CLEAN_OPTIONS).map(
    ({ doc }) => `| \`${doc.flags}\` | ${cell(doc.description)} |`,
  );
  return ['| option | meaning |', '|---|---|', ...rows].join('\n');
}

function replaceBlock(text: string, name: string, body: string): string {
  const start = `<!-- generated:${name}:start -->`;
  const end = `<!-- generated:${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to === -1) throw new Error(`README.md lacks the ${start} … ${end} markers`);
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
}

/** The README as it should be. */
export async function generatedReadme(current?: string): Promise<string> {
  let text = current ?? (await readFile(README, 'utf8'));
  const sections = settingsSections()
    .map(([title, table]) => `### ${title}\n\n${table}\n`)
    .join('\n');
  text = replaceBlock(text, 'settings', sections);
  text = replaceBlock(text, 'metrics', metricsTable());
  text = replaceBlock(text, 'dag-fields', dagFieldsTables());
  text = replaceBlock(text, 'cli', cliTable());
  text = replaceBlock(text, 'db-clean', dbCleanTable());
  return text;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await writeFile(README, await generatedReadme());
  process.stdout.write('README.md tables regenerated\n');
}
