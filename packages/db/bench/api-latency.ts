/**
 * p50 latency of the API's list and detail calls on a big database: what an operator meets a year
 * into production. Each call is made BENCH_CALLS times (default 3) in turn; the table prints the
 * median and the answer's total_entries.
 *
 *   1. An API on an empty, migrated database of its own (unusual ports, its own DATA_DIR):
 *        DATA_DIR=/tmp/big EMBEDDED_POSTGRES_PORT=47613 API_PORT=18471 METRICS_PORT=19471 \
 *          API_AUTH_TOKENS=ops:bench-token-0123456789 node apps/api/src/main.ts
 *   2. Fill it: DATABASE_URL=postgres://postgres:$(cat /tmp/big/postgres.password)@127.0.0.1:47613/dagbag \
 *        node packages/db/bench/big-database.ts          (about 10 minutes on 2 cores)
 *   3. DAGBAG_API_URL=http://127.0.0.1:18471 DAGBAG_API_TOKEN=bench-token-0123456789 \
 *        node packages/db/bench/api-latency.ts [substring of the calls to run]
 *
 * The calls are those of Airflow's UI and clients: default pages, deep offsets, each order_by,
 * filters, `~` across DAGs and runs, the batch bodies.
 */
const base = process.env.DAGBAG_API_URL ?? 'http://127.0.0.1:18471';
const token = process.env.DAGBAG_API_TOKEN ?? 'secret';
const calls = Number(process.env.BENCH_CALLS ?? 3);
const only = process.argv[2];

interface Call {
  name: string;
  path: string;
  body?: unknown;
}

const DAG = 'dag_0042';
const BIG = 'dag_0000'; // 500 tasks
const RUN = '{run}'; // the DAG's first run, found at start
const BIG_RUN = '{big_run}'; // the 500-task DAG's first run
const runs = '/api/v2/dags/~/dagRuns';
const tis = '/api/v2/dags/~/dagRuns/~/taskInstances';

const CALLS: Call[] = [
  { name: 'dags default', path: '/api/v2/dags' },
  { name: 'dags offset 1900', path: '/api/v2/dags?offset=1900' },
  { name: 'dags order -last_run_start_date', path: '/api/v2/dags?order_by=-last_run_start_date' },
  { name: 'dags order last_run_state', path: '/api/v2/dags?order_by=last_run_state' },
  { name: 'dags last_dag_run_state=failed', path: '/api/v2/dags?last_dag_run_state=failed' },
  { name: 'dags dag_run_state=running', path: '/api/v2/dags?dag_run_state=running' },
  { name: 'dags has_import_errors', path: '/api/v2/dags?has_import_errors=true' },
  { name: 'dags pattern+tags', path: '/api/v2/dags?dag_id_pattern=00&tags=team_3' },
  { name: 'dag detail', path: `/api/v2/dags/${DAG}` },
  { name: 'dag details', path: `/api/v2/dags/${DAG}/details` },
  { name: 'dag tasks (500)', path: `/api/v2/dags/${BIG}/tasks` },
  { name: 'dagTags', path: '/api/v2/dagTags' },
  { name: 'dagStats all', path: '/api/v2/dagStats' },
  { name: 'dagStats one', path: `/api/v2/dagStats?dag_ids=${DAG}` },
  { name: 'dagSources', path: `/api/v2/dagSources/${DAG}` },
  { name: 'dagWarnings', path: '/api/v2/dagWarnings?warning_type=stale%20dag' },
  { name: 'dagVersions of a DAG', path: `/api/v2/dags/${DAG}/dagVersions` },
  { name: 'dagVersions ~', path: '/api/v2/dags/~/dagVersions' },
  { name: 'dagVersions ~ -created_at', path: '/api/v2/dags/~/dagVersions?order_by=-created_at' },
  { name: 'importErrors', path: '/api/v2/importErrors' },
  { name: 'importErrors -timestamp', path: '/api/v2/importErrors?order_by=-timestamp' },
  { name: 'eventLogs default', path: '/api/v2/eventLogs' },
  { name: 'eventLogs -when (UI)', path: '/api/v2/eventLogs?order_by=-when' },
  { name: 'eventLogs offset 1M', path: '/api/v2/eventLogs?offset=1000000' },
  { name: 'eventLogs of a DAG', path: `/api/v2/eventLogs?dag_id=${DAG}&order_by=-when` },
  { name: 'eventLogs event=failed', path: '/api/v2/eventLogs?event=failed&order_by=-when' },
  { name: 'eventLogs owner', path: '/api/v2/eventLogs?owner=user_3&order_by=-when' },
  { name: 'eventLogs after', path: '/api/v2/eventLogs?after=2026-12-01T00:00:00Z' },
  { name: 'runs of a DAG default', path: `/api/v2/dags/${DAG}/dagRuns` },
  {
    name: 'runs of a DAG -run_after (UI)',
    path: `/api/v2/dags/${DAG}/dagRuns?order_by=-run_after`,
  },
  { name: 'runs of a DAG state=failed', path: `/api/v2/dags/${DAG}/dagRuns?state=failed` },
  { name: 'runs ~ default', path: runs },
  { name: 'runs ~ -run_after (UI)', path: `${runs}?order_by=-run_after` },
  { name: 'runs ~ -start_date', path: `${runs}?order_by=-start_date` },
  { name: 'runs ~ -end_date', path: `${runs}?order_by=-end_date` },
  { name: 'runs ~ logical_date', path: `${runs}?order_by=logical_date` },
  { name: 'runs ~ -id offset 500k', path: `${runs}?order_by=-id&offset=500000` },
  { name: 'runs ~ state=running', path: `${runs}?state=running&order_by=-run_after` },
  { name: 'runs ~ state=failed', path: `${runs}?state=failed&order_by=-run_after` },
  { name: 'runs ~ run_type=manual', path: `${runs}?run_type=manual&order_by=-run_after` },
  { name: 'runs ~ run_after_gte', path: `${runs}?run_after_gte=2026-12-01T00:00:00Z` },
  { name: 'runs ~ run_id_pattern', path: `${runs}?run_id_pattern=manual&order_by=-run_after` },
  { name: 'runs ~ user pattern', path: `${runs}?triggering_user_name_pattern=user_3` },
  { name: 'run detail', path: `/api/v2/dags/${DAG}/dagRuns/${RUN}` },
  { name: 'runs list body', path: `${runs}/list`, body: { order_by: '-run_after' } },
  {
    name: 'runs list body dag_ids',
    path: `${runs}/list`,
    body: { dag_ids: [DAG, BIG], states: ['failed'] },
  },
  { name: 'TIs of a run', path: `/api/v2/dags/${DAG}/dagRuns/${RUN}/taskInstances` },
  { name: 'TIs of a big run', path: `/api/v2/dags/${BIG}/dagRuns/${BIG_RUN}/taskInstances` },
  {
    name: 'runs of the big DAG -run_after',
    path: `/api/v2/dags/${BIG}/dagRuns?order_by=-run_after`,
  },
  { name: 'TIs of a DAG (~ run)', path: `/api/v2/dags/${DAG}/dagRuns/~/taskInstances` },
  { name: 'TIs ~ ~ default', path: tis },
  { name: 'TIs ~ ~ -start_date', path: `${tis}?order_by=-start_date` },
  { name: 'TIs ~ ~ -run_after', path: `${tis}?order_by=-run_after` },
  {
    name: 'TIs ~ ~ -start_date,-run_after (UI)',
    path: `${tis}?order_by=-start_date&order_by=-run_after`,
  },
  { name: 'TIs ~ ~ state=failed', path: `${tis}?state=failed` },
  { name: 'TIs ~ ~ state=running', path: `${tis}?state=running` },
  { name: 'TIs ~ ~ task_id', path: `${tis}?task_id=task_1` },
  { name: 'TIs ~ ~ offset 1M', path: `${tis}?offset=1000000` },
  { name: 'TIs list body', path: `${tis}/list`, body: {} },
  { name: 'TIs list body state', path: `${tis}/list`, body: { state: ['failed'] } },
  {
    name: 'TIs list body dag_ids',
    path: `${tis}/list`,
    body: { dag_ids: [DAG], order_by: '-start_date' },
  },
  { name: 'TI detail', path: `/api/v2/dags/${DAG}/dagRuns/${RUN}/taskInstances/task_0` },
  { name: 'TI tries', path: `/api/v2/dags/${DAG}/dagRuns/${RUN}/taskInstances/task_0/tries` },
  { name: 'TI try 1', path: `/api/v2/dags/${DAG}/dagRuns/${RUN}/taskInstances/task_0/tries/1` },
  {
    name: 'TI dependencies',
    path: `/api/v2/dags/${DAG}/dagRuns/${RUN}/taskInstances/task_1/dependencies`,
  },
  { name: 'TI log', path: `/api/v2/dags/${DAG}/dagRuns/${RUN}/taskInstances/task_0/logs/1` },
  { name: 'run structure', path: `/api/v2/dags/${DAG}/dagRuns/${RUN}/structure` },
  { name: 'health', path: '/api/v2/monitor/health' },
];

async function firstRunId(dagId: string): Promise<string> {
  const response = await fetch(`${base}/api/v2/dags/${dagId}/dagRuns?order_by=run_after&limit=1`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await response.json()) as { dag_runs: { dag_run_id: string }[] };
  return body.dag_runs[0]!.dag_run_id;
}

async function time(call: Call): Promise<{ ms: number; status: number; total: unknown }> {
  const started = performance.now();
  const response = await fetch(`${base}${call.path}`, {
    method: call.body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: call.body === undefined ? undefined : JSON.stringify(call.body),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let total: unknown = '';
  try {
    total = (JSON.parse(text) as { total_entries?: unknown }).total_entries ?? '';
  } catch {
    // a log or an error page: no total
  }
  return { ms, status: response.status, total };
}

const runId = await firstRunId(DAG);
const bigRunId = await firstRunId(BIG);
console.log(`| call | p50 ms | status | total_entries |\n|---|---:|---:|---:|`);
for (const call of CALLS) {
  if (only !== undefined && !call.name.includes(only)) continue;
  const path = call.path
    .replaceAll(RUN, encodeURIComponent(runId))
    .replaceAll(BIG_RUN, encodeURIComponent(bigRunId));
  const results = [];
  for (let i = 0; i < calls; i++) results.push(await time({ ...call, path }));
  const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)]!;
  const last = results.at(-1)!;
  console.log(`| ${call.name} | ${p50.toFixed(1)} | ${last.status} | ${String(last.total)} |`);
}
