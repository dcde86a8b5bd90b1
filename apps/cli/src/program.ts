/**
 * The `dagbag` command line: every command is a call of @dagbag/client (except `dags validate`,
 * which checks files locally with the processor's own parsing). Arguments are parsed by commander.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import {
  createDagbagClient,
  type DagbagClient,
  type DagRunState,
  isConnectionLoss,
  readThroughRestarts,
  type Schemas,
} from '@dagbag/client';
import { CommandFailed, resolveConfig, UsageError } from './config.ts';
import { cacheFigures } from './cache.ts';
import { printFields, printJson, printTable, stateText, type Io } from './output.ts';
import { createProgressView } from './progress.ts';
import { reportLines, sharedDagIds, validateDagFiles, warningLines } from './validate.ts';
import { diffStructures, documentOfSource, settingText } from './versions.ts';

export interface ProgramContext extends Io {
  env: {
    DAGBAG_API_URL?: string;
    DAGBAG_API_TOKEN?: string;
    DATA_DIR?: string;
    API_METRICS_PORT?: string;
    SCHEDULER_METRICS_PORT?: string;
  };
  /** Where relative paths of `dags validate` are taken from. */
  cwd: string;
  /**
   * Asks a person a question and resolves with the answer; absent when stdin is not a terminal,
   * where nobody can answer (then a destructive command needs --yes).
   */
  ask?: (question: string) => Promise<string>;
}

/**
 * `runs list` without a DAG stops here unless --limit says otherwise: every DAG's history can be
 * millions of runs, and the newest are what a person at a terminal wants.
 */
const EVERY_DAG_LIMIT = 100;

/** The states a run can be in (Airflow's DagRunState), for `runs list --state`. */
const DAG_RUN_STATES: readonly DagRunState[] = ['queued', 'running', 'success', 'failed'];

/** Task instance states that will not change any more without a clear. */
const FINISHED_TASK_STATES = new Set([
  'success',
  'failed',
  'skipped',
  'upstream_failed',
  'removed',
]);
const isFinished = (state: string | null) => state !== null && FINISHED_TASK_STATES.has(state);

export function buildProgram(context: ProgramContext): Command {
  const io: Io = context;
  const program = new Command('dagbag')
    .description('Command line of the dagbag REST API (Airflow-style workflows)')
    .option('--url <url>', 'API base URL (else DAGBAG_API_URL, else http://127.0.0.1:8080)')
    .option('--token <token>', 'bearer token (else DAGBAG_API_TOKEN, else DATA_DIR/api-token)')
    .showHelpAfterError()
    // Before any subcommand is added: each copies it, so a usage mistake in `dags lis` or
    // `runs show DAG` throws (exit 2 in main.ts) instead of commander's process.exit(1).
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });

  let cached: DagbagClient | undefined;
  const client = (): DagbagClient => {
    if (cached) return cached;
    const config = resolveConfig(program.opts<{ url?: string; token?: string }>(), context.env);
    cached = createDagbagClient({
      baseUrl: config.url,
      ...(config.token ? { token: config.token } : {}),
    });
    return cached;
  };
  const json = new Option('--json', 'print JSON instead of a table');

  // ---- dags
  const dags = program
    .command('dags')
    .description('DAGs: list, show, pause, unpause, delete, reparse, validate files');
  dags
    .command('list')
    .description('every DAG')
    .addOption(json)
    .action(async (options: { json?: boolean }) => {
      const api = client();
      const all = await collect(
        api.paginate((page) => api.GET('/api/v2/dags', { params: { query: page } }), 'dags'),
      );
      if (options.json) return printJson(io, all);
      printTable(
        io,
        ['dag_id', 'paused', 'schedule', 'next run after', 'tags', 'import errors'],
        all.map((dag) => [
          dag.dag_id,
          dag.is_paused ? 'yes' : 'no',
          dag.timetable_summary,
          dag.next_dagrun_run_after,
          dag.tags.map((tag) => tag.name).join(', '),
          dag.has_import_errors ? 'yes' : '',
        ]),
      );
    });
  dags
    .command('show <dag>')
    .description("one DAG's details and its tasks")
    .addOption(json)
    .action(async (dagId: string, options: { json?: boolean }) => {
      const path = { params: { path: { dag_id: dagId } } };
      const { data: dag } = await client().GET('/api/v2/dags/{dag_id}/details', path);
      const { data: tasks } = await client().GET('/api/v2/dags/{dag_id}/tasks', path);
      if (options.json) return printJson(io, { ...dag, tasks: tasks?.tasks });
      printFields(io, {
        dag_id: dag!.dag_id,
        description: dag!.description,
        paused: dag!.is_paused,
        schedule: dag!.timetable_summary,
        file: dag!.fileloc,
        'start date': dag!.start_date,
        catchup: dag!.catchup,
        'max active runs': dag!.max_active_runs,
        'next run after': dag!.next_dagrun_run_after,
        tags: dag!.tags.map((tag) => tag.name).join(', '),
      });
      printTable(
        io,
        ['task_id', 'operator', 'trigger rule', 'retries', 'retry delay', 'timeout', 'downstream'],
        (tasks?.tasks ?? []).map((task) => [
          task.task_id,
          task.operator_name,
          task.trigger_rule,
          task.retries,
          durationText(task.retry_delay),
          durationText(task.execution_timeout),
          idsText(task.downstream_task_ids ?? []),
        ]),
      );
    });
  for (const [name, paused] of [
    ['pause', true],
    ['unpause', false],
  ] as const) {
    dags
      .command(`${name} <dag>`)
      .description(paused ? 'stop scheduling new runs' : 'schedule runs again')
      .action(async (dagId: string) => {
        const { data } = await client().PATCH('/api/v2/dags/{dag_id}', {
          params: { path: { dag_id: dagId } },
          body: { is_paused: paused },
        });
        io.stdout.write(`${data!.dag_id} is ${data!.is_paused ? 'paused' : 'unpaused'}\n`);
      });
  }
  dags
    .command('delete <dag>')
    .description(
      "delete a DAG's versions, runs, task instances and their logs (the event log stays); refused while one of its runs or tasks is running. While its file is in DAGS_FOLDER the DAG comes back, as new",
    )
    .option('-y, --yes', 'delete without asking; needed when stdin is not a terminal')
    .action(async (dagId: string, options: { yes?: boolean }) => {
      const path = { params: { path: { dag_id: dagId } } };
      if (!options.yes) {
        if (context.ask === undefined)
          throw new UsageError(
            'stdin is not a terminal, so nobody can confirm: add --yes to delete the DAG',
          );
        // Asked after the DAG is found, with what goes: a misspelt id fails before the question.
        const { data: runs } = await client().GET('/api/v2/dags/{dag_id}/dagRuns', {
          params: { path: { dag_id: dagId }, query: { limit: 0 } },
        });
        const answer = await context.ask(
          `Delete DAG ${dagId}: its versions, ${runs!.total_entries} run(s), their task instances and logs? This cannot be undone. [y/N] `,
        );
        if (!/^y(es)?$/i.test(answer.trim()))
          throw new CommandFailed('not confirmed: nothing deleted');
      }
      await client().DELETE('/api/v2/dags/{dag_id}', path);
      io.stdout.write(`deleted ${dagId}\n`);
    });
  dags
    .command('reparse <dag>')
    .description(
      "have the scheduler's DAG processor read the DAG's file again on its next pass, even unchanged",
    )
    .action(async (dagId: string) => {
      const { data: dag } = await client().GET('/api/v2/dags/{dag_id}/details', {
        params: { path: { dag_id: dagId } },
      });
      await client().PUT('/api/v2/parseDagFile/{file_token}', {
        params: { path: { file_token: dag!.file_token } },
      });
      io.stdout.write(
        `${dagId}: ${dag!.fileloc} is read again on the processor's next pass (every DAG_DIR_SCAN_SECONDS)\n`,
      );
    });
  dags
    .command('validate <files...>')
    .description('check DAG files (or folders of them) as the processor does; exit 1 on errors')
    .addOption(json)
    .action(async (files: string[], options: { json?: boolean }) => {
      const reports = await validateDagFiles(files, context.cwd);
      const bad = reports.filter((report) => report.problems.length > 0);
      if (options.json) printJson(io, reports);
      else for (const line of reportLines(reports)) io.stdout.write(`${line}\n`);
      for (const line of warningLines(reports)) io.stderr.write(`${line}\n`);
      // Which file keeps a shared dag_id depends on the database (the one holding the DAG):
      // renaming the dag_id of the file named here could move a live DAG to a new name.
      for (const [dagId, count] of sharedDagIds(reports))
        io.stderr.write(
          `dag_id ${JSON.stringify(dagId)} is in ${count} files: a running scheduler keeps it in the file that defines it now and refuses the others; here the first by name is kept\n`,
        );
      io.stderr.write(`${reports.length} file(s) checked, ${bad.length} with errors\n`);
      if (bad.length > 0) throw new CommandFailed('');
    });

  // ---- versions
  const versions = program.command('versions').description('DAG versions: list, diff');
  versions
    .command('list <dag>')
    .description("a DAG's versions")
    .addOption(json)
    .action(async (dagId: string, options: { json?: boolean }) => {
      const api = client();
      const all = await collect(
        api.paginate(
          (page) =>
            api.GET('/api/v2/dags/{dag_id}/dagVersions', {
              params: { path: { dag_id: dagId }, query: page },
            }),
          'dag_versions',
        ),
      );
      if (options.json) return printJson(io, all);
      printTable(
        io,
        ['version', 'created at', 'id'],
        all.map((version) => [version!.version_number, version!.created_at, version!.id]),
      );
    });
  versions
    .command('diff <dag> <a> <b>')
    .description('tasks and edges added, removed and changed from version A to version B')
    .addOption(json)
    .action(async (dagId: string, a: string, b: string, options: { json?: boolean }) => {
      const structure = async (version: string) =>
        (
          await client().GET('/api/v2/dags/{dag_id}/dagVersions/{version_number}/structure', {
            params: { path: { dag_id: dagId, version_number: versionNumber(version) } },
          })
        ).data!;
      // The structure has no command: each version's file (its source) has every setting.
      const source = async (version: string) =>
        (
          await client().GET('/api/v2/dagSources/{dag_id}', {
            params: { path: { dag_id: dagId }, query: { version_number: versionNumber(version) } },
          })
        ).data!.content;
      const [structureA, structureB, sourceA, sourceB] = await Promise.all([
        structure(a),
        structure(b),
        source(a),
        source(b),
      ]);
      const documentA = documentOfSource(sourceA);
      const documentB = documentOfSource(sourceB);
      const diff = diffStructures(
        structureA,
        structureB,
        documentA && documentB ? { from: documentA, to: documentB } : undefined,
      );
      if (options.json) return printJson(io, diff);
      const lines = [
        ...Object.entries(diff.dag).map(
          ([field, [from, to]]) => `~ dag ${field} ${settingText(from)} -> ${settingText(to)}`,
        ),
        ...diff.tasks.added.map((task) => `+ task ${task.id} (${task.operator})`),
        ...diff.tasks.removed.map((task) => `- task ${task.id} (${task.operator})`),
        ...diff.tasks.changed.map(
          (change) =>
            `~ task ${change.id}: ${Object.entries(change.fields)
              .map(([field, [from, to]]) => `${field} ${settingText(from)} -> ${settingText(to)}`)
              .join(', ')}`,
        ),
        ...diff.edges.added.map((edge) => `+ edge ${edge.source_id} -> ${edge.target_id}`),
        ...diff.edges.removed.map((edge) => `- edge ${edge.source_id} -> ${edge.target_id}`),
      ];
      if (lines.length) return void io.stdout.write(`${lines.join('\n')}\n`);
      io.stdout.write(
        sourceA === sourceB
          ? `versions ${a} and ${b} are the same\n`
          : documentA && documentB
            ? `versions ${a} and ${b} have the same settings, tasks and edges; only their files' text differs\n`
            : `versions ${a} and ${b} have the same tasks and edges; their files differ\n`,
      );
    });

  // ---- runs
  const runs = program.command('runs').description('DAG runs: trigger, list, show, clear, mark');
  runs
    .command('trigger <dag>')
    .description(
      'start a run (now, or once the interval of its --logical-date has ended); with --wait, follow it and exit 0 on success, 1 on failure',
    )
    .option(
      '--conf <json>',
      'run configuration (a JSON object); its tasks read it as $DAG_RUN_CONF',
    )
    .option(
      '--run-id <id>',
      'the run id (default: manual__ and the logical date, else the time and 8 random characters)',
    )
    .option(
      '--logical-date <date-time>',
      "the run's logical date, e.g. 2026-01-01T00:00:00Z (default: none, as Airflow 3)",
    )
    .option('--wait', 'follow the run until it ends (an API restart of up to 30 s is waited out)')
    .option('--interval <seconds>', 'progress refresh interval with --wait', '0.5')
    .addOption(json)
    .action(
      async (
        dagId: string,
        options: {
          conf?: string;
          runId?: string;
          logicalDate?: string;
          wait?: boolean;
          interval: string;
          json?: boolean;
        },
      ) => {
        const conf = options.conf === undefined ? undefined : parseConf(options.conf);
        const { data: run } = await client().POST('/api/v2/dags/{dag_id}/dagRuns', {
          params: { path: { dag_id: dagId } },
          body: {
            logical_date: options.logicalDate ?? null,
            ...(options.runId ? { dag_run_id: options.runId } : {}),
            ...(conf ? { conf } : {}),
          },
        });
        // A paused DAG's run stays queued: say so, rather than wait in silence.
        const { data: dag } = await client().GET('/api/v2/dags/{dag_id}', {
          params: { path: { dag_id: dagId } },
        });
        if (dag?.is_paused)
          io.stderr.write(
            `${dagId} is paused: the run stays queued until \`dagbag dags unpause ${dagId}\`\n`,
          );
        if (!options.wait) {
          if (options.json) return printJson(io, run);
          io.stdout.write(`triggered ${run!.dag_id} ${run!.dag_run_id} (${run!.state})\n`);
          return;
        }
        io.stderr.write(`triggered ${run!.dag_id} ${run!.dag_run_id}\n`);
        // With --json, stdout is the final JSON alone (`... --wait --json | jq`): the progress
        // goes to stderr.
        const final = await followRun(
          client(),
          options.json ? { stdout: io.stderr, stderr: io.stderr } : io,
          dagId,
          run!.dag_run_id,
          seconds(options.interval),
        );
        // The shape of `runs show --json` (the run, as without --wait, and its task instances):
        // `... --wait --json | jq -r .dag_run_id` reads the same field as without --wait.
        if (options.json) {
          const { data: ended } = await readThroughRestarts(() =>
            client().GET('/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', {
              params: { path: { dag_id: dagId, dag_run_id: run!.dag_run_id } },
            }),
          );
          printJson(io, { ...ended, task_instances: final.taskInstances });
        }
        if (final.state !== 'success') throw new CommandFailed(failureText(final));
        io.stderr.write(`run ${final.runId} succeeded\n`);
      },
    );
  runs
    .command('list [dag]')
    .description("a DAG's runs, newest first; without a DAG (or with ~), every DAG's")
    .addOption(
      new Option('--state <state...>', 'only runs in these states').choices(DAG_RUN_STATES),
    )
    .option(
      '--limit <n>',
      `at most this many (default: all of one DAG's, ${EVERY_DAG_LIMIT} of every DAG's)`,
    )
    .addOption(json)
    .action(
      async (
        dag: string | undefined,
        options: { state?: DagRunState[]; limit?: string; json?: boolean },
      ) => {
        const api = client();
        // `~` is Airflow's "every DAG" in a path; then each row names its DAG.
        const dagId = dag ?? '~';
        const everyDag = dagId === '~';
        const limit =
          options.limit !== undefined
            ? positiveInteger('--limit', options.limit)
            : everyDag
              ? EVERY_DAG_LIMIT
              : Infinity;
        const all: Schemas['DAGRunResponse'][] = [];
        for await (const run of api.paginate(
          (page) =>
            api.GET('/api/v2/dags/{dag_id}/dagRuns', {
              params: {
                path: { dag_id: dagId },
                query: {
                  ...page,
                  order_by: ['-run_after'],
                  ...(options.state ? { state: options.state } : {}),
                },
              },
            }),
          'dag_runs',
        )) {
          if (all.length >= limit) break;
          all.push(run);
        }
        if (options.json) return printJson(io, all);
        printTable(
          io,
          [
            ...(everyDag ? ['dag_id'] : []),
            'run_id',
            'state',
            'type',
            'run after',
            'started',
            'ended',
          ],
          all.map((run) => [
            ...(everyDag ? [run.dag_id] : []),
            run.dag_run_id,
            stateText(run.state),
            run.run_type,
            run.run_after,
            run.start_date,
            run.end_date,
          ]),
        );
      },
    );
  runs
    .command('show <dag> <run>')
    .description('a run and its task instances')
    .addOption(json)
    .action(async (dagId: string, runId: string, options: { json?: boolean }) => {
      const path = { params: { path: { dag_id: dagId, dag_run_id: runId } } };
      const { data: run } = await client().GET('/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', path);
      const tis = await taskInstances(client(), dagId, runId);
      if (options.json) return printJson(io, { ...run, task_instances: tis });
      printFields(io, {
        dag_id: run!.dag_id,
        run_id: run!.dag_run_id,
        state: stateText(run!.state),
        type: run!.run_type,
        'run after': run!.run_after,
        started: run!.start_date,
        ended: run!.end_date,
        conf: JSON.stringify(run!.conf ?? {}),
      });
      printTable(
        io,
        ['task_id', 'state', 'try', 'started', 'ended', 'duration'],
        tis.map((ti) => [
          ti.task_id,
          stateText(ti.state),
          ti.try_number,
          ti.start_date,
          ti.end_date,
          ti.duration,
        ]),
      );
    });
  runs
    .command('clear <dag> <run>')
    .description("clear a run's task instances so they run again")
    .option('--only-failed', 'only failed and upstream_failed task instances')
    .option('--dry-run', 'list what would be cleared, change nothing')
    .addOption(json)
    .action(
      async (
        dagId: string,
        runId: string,
        options: { onlyFailed?: boolean; dryRun?: boolean; json?: boolean },
      ) => {
        const { data } = await client().POST('/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear', {
          params: { path: { dag_id: dagId, dag_run_id: runId } },
          body: {
            dry_run: options.dryRun ?? false,
            only_failed: options.onlyFailed ?? false,
            run_on_latest_version: false,
          },
        });
        if (data && 'task_instances' in data) return printCleared(io, data, options);
        if (options.json) return printJson(io, data);
        io.stdout.write(`cleared ${data!.dag_id} ${data!.dag_run_id}: the run is ${data!.state}\n`);
      },
    );
  for (const [name, state] of [
    ['mark-success', 'success'],
    ['mark-failed', 'failed'],
  ] as const) {
    runs
      .command(`${name} <dag> <run>`)
      .description(`set the run's state to ${state}`)
      .action(async (dagId: string, runId: string) => {
        const { data } = await client().PATCH('/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', {
          params: { path: { dag_id: dagId, dag_run_id: runId } },
          body: { state },
        });
        io.stdout.write(`${data!.dag_id} ${data!.dag_run_id} is ${data!.state}\n`);
      });
  }

  // ---- tasks
  program
    .command('tasks')
    .description('task instances')
    .command('clear <dag> <run> <tasks...>')
    .description('clear these tasks of a run (and with flags their relatives) so they run again')
    .option('--upstream', 'also their upstream tasks')
    .option('--downstream', 'also their downstream tasks')
    .option('--only-failed', 'only failed and upstream_failed task instances')
    .option('--dry-run', 'list what would be cleared, change nothing')
    .addOption(json)
    .action(
      async (
        dagId: string,
        runId: string,
        taskIds: string[],
        options: {
          upstream?: boolean;
          downstream?: boolean;
          onlyFailed?: boolean;
          dryRun?: boolean;
          json?: boolean;
        },
      ) => {
        // A misspelt task id would clear nothing and say only "nothing to clear".
        const { data: dagTasks } = await client().GET('/api/v2/dags/{dag_id}/tasks', {
          params: { path: { dag_id: dagId } },
        });
        const known = new Set<string | null>((dagTasks?.tasks ?? []).map((task) => task.task_id));
        const unknown = taskIds.filter((taskId) => !known.has(taskId));
        if (unknown.length > 0)
          throw new CommandFailed(
            `${dagId} has no task${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; its tasks: ${idsText([...known].filter((id) => id !== null).sort(), 20)}`,
          );
        const { data } = await client().POST('/api/v2/dags/{dag_id}/clearTaskInstances', {
          params: { path: { dag_id: dagId } },
          body: {
            dag_run_id: runId,
            task_ids: taskIds,
            dry_run: options.dryRun ?? false,
            only_failed: options.onlyFailed ?? false,
            only_running: false,
            reset_dag_runs: true,
            include_upstream: options.upstream ?? false,
            include_downstream: options.downstream ?? false,
            include_future: false,
            include_past: false,
            run_on_latest_version: false,
          },
        });
        printCleared(io, data, options);
      },
    );

  // ---- logs
  program
    .command('logs <dag> <run> <task>')
    .description(
      "a task's log (its latest try unless --try); --follow reads on until the task ends",
    )
    .option('--try <n>', 'try number')
    .option(
      '--follow',
      'keep reading until the task ends (its next tries too, unless --try); ' +
        'an API restart of up to 30 s is waited out',
    )
    .action(
      async (
        dagId: string,
        runId: string,
        taskId: string,
        options: { try?: string; follow?: boolean },
      ) => {
        await printLog(
          client(),
          io,
          { dagId, runId, taskId },
          options.try === undefined ? undefined : positiveInteger('--try', options.try),
          options.follow ?? false,
        );
      },
    );

  // ---- import errors, cache
  program
    .command('import-errors')
    .description('DAG files the processor could not load, with file:line:col: reason')
    .addOption(json)
    .action(async (options: { json?: boolean }) => {
      const api = client();
      const all = await collect(
        api.paginate(
          (page) => api.GET('/api/v2/importErrors', { params: { query: page } }),
          'import_errors',
        ),
      );
      if (options.json) return printJson(io, all);
      if (all.length === 0) return void io.stdout.write('no import errors\n');
      for (const error of all) io.stdout.write(`${error.stack_trace}\n`);
    });
  program
    .command('cache')
    .description("both roles' DAG cache figures: monitor/dagbag and the /metrics endpoints")
    .option(
      '--metrics <urls...>',
      "Prometheus endpoints to read (default: both roles' on 127.0.0.1, at API_METRICS_PORT and SCHEDULER_METRICS_PORT, else 9464 and 9465; a METRICS_PORT of one app is not read: name its endpoint here)",
      [
        `http://127.0.0.1:${context.env.API_METRICS_PORT || 9464}/metrics`,
        `http://127.0.0.1:${context.env.SCHEDULER_METRICS_PORT || 9465}/metrics`,
      ],
    )
    .addOption(json)
    .action(async (options: { metrics: string[]; json?: boolean }) => {
      const figures = await cacheFigures(client(), options.metrics);
      if (options.json) return printJson(io, figures);
      printTable(
        io,
        ['role', 'source', 'entries', 'weight / budget', 'hit ratio', 'evictions by reason'],
        figures.map((row) => [
          row.role,
          row.source,
          row.entries,
          row.weightBytes === null
            ? ''
            : `${mb(row.weightBytes)} / ${row.maxBytes === null ? '?' : mb(row.maxBytes)}`,
          row.hitRatio === null ? '' : `${(row.hitRatio * 100).toFixed(1)} %`,
          Object.entries(row.evictions)
            .filter(([, count]) => count > 0)
            .map(([reason, count]) => `${reason} ${count}`)
            .join(', ') ||
            (row.error ?? 'none'),
        ]),
      );
    });
  return program;
}

export interface RunOutcome {
  runId: string;
  state: DagRunState;
  failedTasks: string[];
  taskInstances: Awaited<ReturnType<typeof taskInstances>>;
}

/** Follows a run to its end: waitForRun for the end, the task instances for the progress view. */
export async function followRun(
  api: DagbagClient,
  io: Io,
  dagId: string,
  runId: string,
  intervalSeconds: number,
): Promise<RunOutcome> {
  const view = createProgressView(io, runId);
  let runState: string = 'queued';
  let ended = false;
  const waiting = api
    .waitForRun(dagId, runId, { interval: intervalSeconds, onState: (state) => (runState = state) })
    .finally(() => (ended = true));
  // Its failure is awaited below; until then, not an unhandled rejection.
  waiting.catch(() => undefined);
  let tis: Awaited<ReturnType<typeof taskInstances>> = [];
  // While the API is away (a restart), the view keeps the last task states: waitForRun
  // reconnects, and gives up for both after WAIT_RECONNECT_MS (then `waiting` rejects), so a lost
  // connection here never decides the outcome. The final listing is read through a restart as
  // the wait is: the wait may have had its answer from the stopping API, which finishes its
  // requests in flight, while the next one is not listening yet. (It gave up after 3 s and the
  // task states from before the restart were printed as the run's outcome: 'success | none 3'.)
  // The last listing is one that started after the wait had ended: a listing that was in flight
  // (or lost to the restart) when the wait ended shows the tasks as they were before the end
  // ('success | queued 1, none 2', seen once in CI).
  const refresh = async (final: boolean) => {
    if (final) {
      tis = await readThroughRestarts(() => taskInstances(api, dagId, runId));
      return;
    }
    try {
      tis = await taskInstances(api, dagId, runId);
    } catch (error) {
      if (!isConnectionLoss(error)) throw error;
    }
  };
  try {
    for (;;) {
      const final = ended;
      await refresh(final);
      view.update(runState, tis);
      if (final) break;
      await Promise.race([waiting, sleep(intervalSeconds * 1000)]);
      if (ended) {
        runState = await waiting;
      }
    }
  } finally {
    view.done();
  }
  const state = await waiting;
  return {
    runId,
    state,
    failedTasks: tis.filter((ti) => ti.state === 'failed').map((ti) => ti.task_id),
    taskInstances: tis,
  };
}

function failureText(outcome: RunOutcome): string {
  const failed = outcome.failedTasks;
  if (failed.length === 0) return `run ${outcome.runId} ${outcome.state}`;
  return `run ${outcome.runId} failed: task${failed.length > 1 ? 's' : ''} ${failed.join(', ')} failed`;
}

async function taskInstances(api: DagbagClient, dagId: string, runId: string) {
  return collect(
    api.paginate(
      (page) =>
        api.GET('/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances', {
          params: { path: { dag_id: dagId, dag_run_id: runId }, query: page },
        }),
      'task_instances',
    ),
  );
}

async function printLog(
  api: DagbagClient,
  io: Io,
  ids: { dagId: string; runId: string; taskId: string },
  tryNumber: number | undefined,
  follow: boolean,
): Promise<void> {
  const tiPath = {
    params: { path: { dag_id: ids.dagId, dag_run_id: ids.runId, task_id: ids.taskId } },
  };
  // With --follow, the reads after the first ride out an API restart (a watch-mode restart) as
  // `runs trigger --wait` does: the log goes on from where it was (the token is an offset).
  const read = <T>(get: () => Promise<T>) => (follow ? readThroughRestarts(get) : get());
  const ti = async () =>
    (await api.GET('/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}', tiPath))
      .data!;
  // Read first: a task that does not exist ends here as the API's 404 (exit 1), --try or not.
  const first = await ti();
  // Try 0: the task never ran, so it has no log. Say so (to stderr: stdout is the log) rather
  // than print nothing; with --follow, a task that can still start is waited for.
  const neverRan = (state: string | null) =>
    io.stderr.write(
      `${ids.taskId} has not run in ${ids.dagId} ${ids.runId} (state: ${state ?? 'none'}): it has no log\n`,
    );
  if (first.try_number === 0 && (!follow || isFinished(first.state)))
    return void neverRan(first.state);
  let tryShown = tryNumber ?? Math.max(first.try_number, 1);
  let token: string | undefined;
  let printed = false;
  for (;;) {
    const { data: page } = await read(() =>
      api.GET(
        '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}',
        {
          params: {
            path: { ...tiPath.params.path, try_number: tryShown },
            query: token === undefined ? {} : { token },
          },
        },
      ),
    );
    for (const line of page!.content)
      io.stdout.write(
        `${typeof line === 'string' ? line : line.timestamp ? `[${line.timestamp}] ${line.event}` : line.event}\n`,
      );
    printed ||= page!.content.length > 0;
    if (!follow) {
      // The log as it is now, all of it: a page is 1 MiB, and the token goes on past it (it is
      // also there at the end of a try that may still write: an empty page ends the read).
      if (page!.continuation_token === null || page!.content.length === 0) return;
      token = page!.continuation_token;
      continue;
    }
    if (page!.continuation_token !== null) {
      token = page!.continuation_token;
      if (page!.content.length === 0) await sleep(500);
      continue;
    }
    // No token: the whole log is read and the try writes no more to it, unless it has not
    // started yet. Never read it again from the start.
    const now = await read(ti);
    const finished = isFinished(now.state);
    const tryOver =
      printed || finished || now.try_number > tryShown || now.state === 'up_for_retry';
    if (!tryOver) {
      await sleep(500);
      continue;
    }
    // An explicit --try ends with that try; the latest try's log goes on into the next try of a
    // task that retries (or was cleared), until the task ends.
    if (tryNumber !== undefined) return;
    if (!printed && now.try_number === 0 && finished) return void neverRan(now.state);
    let latest = now;
    while (latest.try_number <= tryShown) {
      if (isFinished(latest.state)) return;
      await sleep(500);
      latest = await read(ti);
    }
    tryShown += 1;
    token = undefined;
    printed = false;
    io.stdout.write(`--- try ${tryShown} ---\n`);
  }
}

function printCleared(
  io: Io,
  data:
    { task_instances: { task_id: string; dag_run_id: string; state: string | null }[] } | undefined,
  options: { dryRun?: boolean; json?: boolean },
): void {
  const cleared = data?.task_instances ?? [];
  if (options.json) return printJson(io, cleared);
  const verb = options.dryRun ? 'would clear' : 'cleared';
  if (cleared.length === 0) return void io.stdout.write(`nothing to clear\n`);
  io.stdout.write(
    `${verb} ${cleared.length}: ${cleared.map((ti) => `${ti.dag_run_id}/${ti.task_id}`).join(', ')}\n`,
  );
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

function parseConf(text: string): Record<string, unknown> {
  let conf: unknown;
  try {
    conf = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--conf is not JSON: ${(error as Error).message}`);
  }
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf))
    throw new UsageError('--conf must be a JSON object, e.g. --conf \'{"day": "2026-01-01"}\'');
  return conf as Record<string, unknown>;
}

function versionNumber(text: string): number {
  return positiveInteger('version', text);
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${name} must be a whole number from 1, not ${JSON.stringify(text)}`);
  return value;
}

function seconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0.1 || value > 3600)
    throw new UsageError(
      `--interval must be seconds from 0.1 to 3600, not ${JSON.stringify(text)}`,
    );
  return value;
}

/**
 * Ids for a table cell: the first `shown`, then how many more. A task feeding 400 others made
 * every row of `dags show` thousands of columns wide (a table pads each cell to its column).
 */
function idsText(ids: readonly string[], shown = 5): string {
  if (ids.length <= shown) return ids.join(', ');
  return `${ids.slice(0, shown).join(', ')} (+${ids.length - shown} more)`;
}

/** Airflow's TimeDelta as `90 s`; none as empty. */
function durationText(delta: Schemas['TimeDelta'] | null | undefined): string {
  if (!delta) return '';
  return `${delta.days * 86_400 + delta.seconds + delta.microseconds / 1e6} s`;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
