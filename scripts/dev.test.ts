import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';
import { freePort } from '@dagbag/config/testing/free-port';

/** Processes whose environment or command line mentions `marker` (our DATA_DIR). */
async function processesMentioning(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const texts = await Promise.all(
      ['environ', 'cmdline'].map((file) =>
        readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => ''),
      ),
    );
    if (texts.some((text) => text.includes(marker))) found.push(pid);
  }
  return found;
}

/** The processes still mentioning `marker` once they had 20 s to exit (none, normally). */
async function processesLeftBehind(marker: string): Promise<number[]> {
  return waitFor(
    'every process to exit',
    async () => {
      const pids = await processesMentioning(marker);
      return pids.length === 0 ? pids : undefined;
    },
    20_000,
  ).catch(() => processesMentioning(marker));
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const TOKEN = 'dev-test-token-0123456789';
const dataDirs: string[] = [];
afterAll(async () => {
  for (const dir of dataDirs) {
    for (const pid of await processesMentioning(dir)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

/** `pnpm dev` in its own process group (a terminal's foreground job), with a private DATA_DIR. */
async function startDev(env: Record<string, string> = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'dagbag-dev-'));
  dataDirs.push(dataDir);
  await chmod(dataDir, 0o755);
  const apiPort = await freePort();
  const [command, ...args] = process.env.npm_execpath
    ? [process.execPath, process.env.npm_execpath, 'dev']
    : ['pnpm', 'dev'];
  const dev = spawn(command, args, {
    cwd: repoRoot(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      VITEST: undefined,
      DATABASE_URL: undefined,
      DATA_DIR: dataDir,
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      API_PORT: String(apiPort),
      // Both apps get one environment, so they keep their own metrics ports (9464, 9465), on a
      // loopback address of this run's own, where nobody else's processes listen.
      METRICS_HOST: `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}`,
      API_AUTH_TOKENS: TOKEN,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  let output = '';
  dev.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  dev.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code)));
  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(`http://127.0.0.1:${apiPort}/api/v2${path}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return (await response.json()) as T;
  };
  return {
    dataDir,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    get,
    output: () => output,
    exited,
    /** Waits until `probe` answers, failing with the tail of the output otherwise. */
    async until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
      const died = exited.then((code) => {
        throw new Error(`pnpm dev exited with ${code} while waiting for ${what}`);
      });
      return Promise.race([waitFor(what, probe, 150_000), died]).catch((error: unknown) => {
        throw new Error(`${String(error)}\n--- pnpm dev output ---\n${output.slice(-4000)}`);
      });
    },
    /** What Ctrl-C does: SIGINT to the whole foreground process group. */
    interrupt: () => process.kill(-dev.pid!, 'SIGINT'),
  };
}

type Collection = { total_entries: number };

/**
 * Triggers a run of the `long` DAG (its one task `wait`) and waits until that task runs: the
 * trigger's status.
 */
async function runLongTask(dev: Awaited<ReturnType<typeof startDev>>): Promise<{ status: number }> {
  const triggered = await fetch(`${dev.apiUrl}/api/v2/dags/long/dagRuns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ logical_date: null }),
  });
  const runId = ((await triggered.json()) as { dag_run_id: string }).dag_run_id;
  await dev.until('the task running', async () => {
    const ti = await dev.get<{ state: string }>(
      `/dags/long/dagRuns/${encodeURIComponent(runId)}/taskInstances/wait`,
    );
    return ti.state === 'running' ? true : undefined;
  });
  return { status: triggered.status };
}

describe('pnpm dev', () => {
  it('gives the example DAGs their demo history, and Ctrl-C stops everything cleanly with exit code 0', async () => {
    const dev = await startDev();
    const versions = await dev.until('the seeded example versions', async () => {
      const body = await dev.get<Collection>('/dags/example_etl/dagVersions');
      return body.total_entries > 0 ? body : undefined;
    });
    expect(versions.total_entries).toBe(3);
    const runs = await dev.get<Collection>('/dags/example_etl/dagRuns');
    expect(runs.total_entries).toBe(6);
    expect(await processesMentioning(dev.dataDir)).not.toHaveLength(0);

    dev.interrupt();
    expect(await dev.exited, dev.output().slice(-4000)).toBe(0);
    expect(await processesLeftBehind(dev.dataDir)).toEqual([]);
    const problems = dev
      .output()
      .split('\n')
      .filter((line) => /"level":(40|50|60)\b|\bWARN|\bERROR|ELIFECYCLE|FATAL/.test(line));
    expect(problems).toEqual([]);
  }, 240_000);

  it("writes no demo history for a user's DAG: it gets version 1 from its first parse and no runs", async () => {
    const dagsFolder = await mkdtemp(join(tmpdir(), 'dagbag-dev-dags-'));
    dataDirs.push(dagsFolder);
    await writeFile(
      join(dagsFolder, 'mine.json'),
      JSON.stringify({
        dag_id: 'mine',
        schedule: null,
        tasks: [{ task_id: 'hello', operator: 'bash', bash_command: 'echo hello' }],
      }),
    );
    const dev = await startDev({ DAGS_FOLDER: dagsFolder, DAG_DIR_SCAN_SECONDS: '1' });
    const dags = await dev.until('the DAG of the user', async () => {
      const body = await dev.get<Collection & { dags: { dag_id: string }[] }>('/dags');
      return body.total_entries > 0 ? body : undefined;
    });
    expect(dags.dags.map((dag) => dag.dag_id)).toEqual(['mine']);
    // A few more scans: still the one version, and nobody invented runs.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const versions = await dev.get<Collection & { dag_versions: { version_number: number }[] }>(
      '/dags/mine/dagVersions',
    );
    expect(versions.dag_versions.map((version) => version.version_number)).toEqual([1]);
    expect((await dev.get<Collection>('/dags/mine/dagRuns')).total_entries).toBe(0);
    dev.interrupt();
    expect(await dev.exited).toBe(0);
  }, 240_000);

  it('Ctrl-C while it starts, with the database up and the apps not yet, leaves nothing running', async () => {
    const dev = await startDev();
    await waitFor(
      'the database to be up',
      async () => (dev.output().includes('embedded PostgreSQL is up') ? true : undefined),
      150_000,
    );
    dev.interrupt(); // during the migrations or the demo seed, before turbo starts the apps
    expect(await dev.exited, dev.output().slice(-4000)).toBe(0);
    expect(dev.output()).not.toContain('"msg":"scheduler started"');
    // Before, pnpm dev ended there alone and the embedded PostgreSQL ran on.
    expect(await processesLeftBehind(dev.dataDir)).toEqual([]);
  }, 240_000);

  it('Ctrl-C during a task hands it back for the next start, before turbo kills the scheduler', async () => {
    const dagsFolder = await mkdtemp(join(tmpdir(), 'dagbag-dev-dags-'));
    dataDirs.push(dagsFolder);
    await writeFile(
      join(dagsFolder, 'long.json'),
      JSON.stringify({
        dag_id: 'long',
        schedule: null,
        tasks: [{ task_id: 'wait', operator: 'bash', bash_command: 'sleep 600' }],
      }),
    );
    const dev = await startDev({ DAGS_FOLDER: dagsFolder, DAG_DIR_SCAN_SECONDS: '1' });
    await dev.until('the DAG', async () =>
      (await dev.get<Collection>('/dags')).total_entries > 0 ? true : undefined,
    );
    const triggered = await runLongTask(dev);
    expect(triggered.status).toBe(200);

    dev.interrupt();
    expect(await dev.exited).toBe(0);
    // Turbo gives its tasks 10 s after Ctrl-C, then kills them: a scheduler still waiting out a
    // 30-s grace was killed there, its task left running, to be failed by a heartbeat timeout.
    const stopped = dev
      .output()
      .split('\n')
      .find((line) => line.includes('"msg":"scheduler stopped"'));
    expect(stopped, dev.output().slice(-4000)).toContain('"handedBack":1');
    expect(dev.output()).not.toContain('Force killed');
  }, 240_000);

  it('a second Ctrl-C while the apps are stopping stops them at once and leaves nothing running', async () => {
    const dagsFolder = await mkdtemp(join(tmpdir(), 'dagbag-dev-dags-'));
    dataDirs.push(dagsFolder);
    await writeFile(
      join(dagsFolder, 'long.json'),
      JSON.stringify({
        dag_id: 'long',
        schedule: null,
        // The folder's name in the task's own command line: its processes are looked for too.
        tasks: [{ task_id: 'wait', operator: 'bash', bash_command: `sleep 600 # ${dagsFolder}` }],
      }),
    );
    const dev = await startDev({
      DAGS_FOLDER: dagsFolder,
      DAG_DIR_SCAN_SECONDS: '1',
      // The scheduler is surely still waiting for its task when the second Ctrl-C comes.
      SCHEDULER_SHUTDOWN_GRACE_SECONDS: '60',
    });
    await dev.until('the DAG', async () =>
      (await dev.get<Collection>('/dags')).total_entries > 0 ? true : undefined,
    );
    await runLongTask(dev);

    dev.interrupt();
    await dev.until('the scheduler stopping', async () =>
      dev.output().includes('"msg":"scheduler stopping: no new work; running tasks may finish"')
        ? true
        : undefined,
    );
    // Past the 500 ms in which a signal counts as the same Ctrl-C (onShutdown's sameSignalMs).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    dev.interrupt();
    expect(await dev.exited, dev.output().slice(-4000)).toBe(130);
    // Before, the second Ctrl-C killed turbo alone: the scheduler (in a process group of turbo's
    // making) went on waiting for a database that was gone, with its task, for good.
    expect(await processesLeftBehind(dev.dataDir)).toEqual([]);
    expect(await processesLeftBehind(dagsFolder)).toEqual([]);
  }, 240_000);
});
