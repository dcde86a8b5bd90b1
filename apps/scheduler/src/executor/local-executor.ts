/**
 * The local executor: runs claimed task instances as `bash -c` child processes, each in its own
 * process group (so a timeout or a stop kills everything the command started), at most
 * `parallelism` at once. stdout and stderr go to the try's log file; exit code 0 is success, 99
 * is skipped (BashOperator's `skip_on_exit_code`), anything else failed. Tasks see only the
 * configured allow-list of the scheduler's environment, Airflow's `AIRFLOW_CTX_*` variables, the
 * run's conf as JSON in `DAG_RUN_CONF` and its dates in `DAG_RUN_DATA_INTERVAL_START`,
 * `DAG_RUN_DATA_INTERVAL_END` and `DAG_RUN_RUN_AFTER`.
 * Tries are told apart by instance id and try number: while a try runs, its heartbeat is written
 * to `task_instance.last_heartbeat_at`; a try taken away meanwhile (operator, clear, timeout, DAG
 * change) has its process stopped, and a new try of an instance waits for the old one to end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { taskLogPath, type Task } from '@dagbag/dagbag';
import {
  finishTaskInstanceTry,
  recordEvent,
  handBackTaskInstances,
  heartbeatTaskInstances,
  markTaskInstanceRunning,
  releaseTaskInstanceTry,
  tryKey,
  type ClaimedTaskInstance,
  type PrismaClient,
  type TryOutcome,
} from '@dagbag/db';
import type { Logger } from '@dagbag/logger';
import type { SchedulerMetrics } from '../metrics.ts';

/**
 * Each try is two processes, both the scheduler's own children (so both are reaped by it):
 *
 * - the task, `bash -c <bash_command>` (its exit code is the task's), leading a process group of
 *   its own that everything it starts joins; its stdin is /dev/null;
 * - its watchdog, `bash -c TASK_WATCHDOG` in a process group of its own (so that signals to the
 *   task's group, a stop's SIGTERM or a pause's SIGSTOP: see `pauseUnheardTries`, leave it
 *   reading), which reads a pipe from the scheduler. The pipe reaches end-of-file when the try is
 *   over or when the scheduler dies, even by SIGKILL; the watchdog then kills the task's whole
 *   group. The scheduler also writes a line to the pipe every keepalive period, and a watchdog
 *   that reads none for `$DAGBAG_TASK_WATCHDOG_SECONDS` kills the group too: a scheduler that is
 *   alive but stopped (SIGSTOP, a paused VM or container, a stalled process) writes no heartbeat
 *   either, and another scheduler retries its tasks once the heartbeat timeout has passed; the
 *   old try must be gone by then.
 *
 * The task's shell waits for its watchdog (TASK_GATE): it reads a line on fd 3, which the scheduler
 * writes once the watchdog is spawned, and only then becomes the command's shell. Before, a
 * scheduler stopped or killed between the two spawns left a command running with no watchdog at
 * all (frozen-scheduler.test.ts failed so once in a loaded CI run, and 2 runs of 5 beside six busy
 * loops: the task wrote its pid, the test stopped the scheduler, and the task ran on).
 *
 * So a task never runs on while another scheduler retries it, and nothing it started in the
 * background outlives the try. The watchdog used to be forked by the task's shell before it ran
 * the command: it outlived its parent at the end of every try, was handed to PID 1, and where PID
 * 1 reaps nothing (the scheduler itself in a container without an init: Docker without `--init`,
 * a Kubernetes pod) left one zombie process per try, for good.
 */
const TASK_WATCHDOG =
  'while :; do read -r -t "$DAGBAG_TASK_WATCHDOG_SECONDS" _; s=$?; [ $s = 0 ] || break; done; ' +
  '[ $s -gt 128 ] && echo "[$(date -u +%FT%TZ)] no word from the scheduler for $DAGBAG_TASK_WATCHDOG_SECONDS s (stopped or stalled): ' +
  'killing the task before another scheduler retries it" >&2; kill -KILL -- -"$DAGBAG_TASK_GROUP" 2>/dev/null';

/**
 * The task's shell: waits for the line the scheduler writes to fd 3 once the watchdog exists, then
 * runs the command (`$0`) as `bash -c` would, in the same process (same pid and group). End of
 * file instead (the scheduler died first) runs nothing.
 */
export const TASK_GATE = 'read -r -u 3 _ || exit 1; exec 3<&-; exec bash --norc -c "$0"';

/** BashOperator's default `skip_on_exit_code`: the task ends `skipped`. */
export const SKIP_EXIT_CODE = 99;

/**
 * How long a task's watchdog waits for a keepalive before it kills the task, and how often the
 * executor writes one. A scheduler stopped at time F wrote its last task heartbeat at F - interval
 * at the earliest, so others may retry its tries from F - interval + timeout on: the watchdog
 * fires before that, at timeout - interval after the last keepalive (never under half the
 * timeout, for a timeout of 1-2 s), and keepalives come four times within that, so only a stall of
 * most of it (50 s of 55 with the defaults) kills a task of a scheduler that is alive.
 */
export function watchdogTiming(heartbeatIntervalMs: number, heartbeatTimeoutMs: number) {
  const deadlineMs = Math.max(heartbeatTimeoutMs - heartbeatIntervalMs, heartbeatTimeoutMs / 2);
  return { deadlineMs, keepaliveMs: Math.max(50, Math.min(heartbeatIntervalMs, deadlineMs / 4)) };
}

/** After SIGTERM to a group, this long before SIGKILL. */
const KILL_GRACE_MS = 5_000;

/** After a task log could not be written (disk full), this long before one task tries again. */
const LOG_RETRY_MS = 10_000;

export interface LocalExecutorOptions {
  prisma: PrismaClient;
  jobId: number;
  parallelism: number;
  logsRoot: string;
  heartbeatIntervalMs: number;
  /**
   * TASK_HEARTBEAT_TIMEOUT_SECONDS in ms: after this long without a heartbeat another scheduler may
   * retry a try, so a try whose scheduler stopped writing keepalives is killed before (see
   * TASK_WATCHDOG and watchdogTiming).
   */
  heartbeatTimeoutMs: number;
  logger: Logger;
  metrics?: SchedulerMetrics;
  /** The scheduler's environment variables tasks may see (the configured allow-list). */
  taskEnv?: Readonly<Record<string, string>>;
  /** Resolves the task of a claimed instance (through the DAG cache); null if it is gone. */
  resolveTask: (ti: ClaimedTaskInstance) => Promise<Task | null>;
  /** Called when a try ended and was recorded, so the loop can look at the run again soon. */
  onTryFinished?: () => void;
}

interface RunningTry {
  ti: ClaimedTaskInstance;
  task: Task | null;
  child: ChildProcess | undefined;
  /** The try's watchdog (see TASK_WATCHDOG): its stdin takes the keepalives. */
  watchdog: ChildProcess | undefined;
  /** Why we stopped it ourselves, if we did; decides the outcome over the exit code. */
  stopReason: 'timeout' | 'taken_away' | 'shutdown' | undefined;
  timeout: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  /** Paused (SIGSTOP to its group) while its heartbeat could not be written; see keepalive(). */
  paused: boolean;
  done: Promise<void>;
}

interface PendingFinish {
  ti: ClaimedTaskInstance;
  outcome: TryOutcome;
  retryDelaySeconds: number;
  /** The try was taken away or handed back: record only that its process ended. */
  releaseOnly: boolean;
}

/** Ours, not Airflow's: the run's `conf` as JSON (`{}` when there is none). */
export const DAG_RUN_CONF_VARIABLE = 'DAG_RUN_CONF';

/** Linux's MAX_ARG_STRLEN: the longest `NAME=value` string of a process's environment, NUL in. */
const MAX_ENV_STRING_BYTES = 128 * 1024;

/** The largest run `conf` (bytes of its JSON) a task's environment can hold: 131,058. */
export const MAX_TASK_CONF_BYTES = MAX_ENV_STRING_BYTES - `${DAG_RUN_CONF_VARIABLE}=`.length - 1;

/**
 * `DAG_RUN_CONF`: the run's conf as compact JSON, as the API shows it; `{}` for none (or anything
 * but an object, which the API shows as null). Throws, naming the limit for the task's log, for a
 * conf too large for the environment: exec would refuse it (E2BIG).
 */
export function dagRunConfEnv(ti: ClaimedTaskInstance): Record<string, string> {
  const conf = ti.conf;
  const json =
    conf !== null && typeof conf === 'object' && !Array.isArray(conf) ? JSON.stringify(conf) : '{}';
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_TASK_CONF_BYTES)
    throw new Error(
      `the run's conf is ${bytes} bytes of JSON, more than the ${MAX_TASK_CONF_BYTES} that ` +
        `${DAG_RUN_CONF_VARIABLE} can hold (Linux allows 128 KiB per environment variable): ` +
        'the task was not started; pass large inputs by reference (a path or a URL in conf)',
    );
  return { [DAG_RUN_CONF_VARIABLE]: json };
}

/** A date as Airflow's `isoformat()` writes it: `2026-01-01T00:00:00+00:00`. */
function airflowIsoDate(date: Date): string {
  return date.toISOString().replace(/\.000Z$|Z$/, '+00:00');
}

/** `AIRFLOW_CTX_*` as Airflow sets them for a task (dates in Airflow's ISO format). */
export function airflowContextEnv(ti: ClaimedTaskInstance): Record<string, string> {
  return {
    AIRFLOW_CTX_DAG_ID: ti.dagId,
    AIRFLOW_CTX_TASK_ID: ti.taskId,
    AIRFLOW_CTX_DAG_RUN_ID: ti.runId,
    AIRFLOW_CTX_TRY_NUMBER: String(ti.tryNumber),
    ...(ti.logicalDate ? { AIRFLOW_CTX_LOGICAL_DATE: airflowIsoDate(ti.logicalDate) } : {}),
  };
}

/**
 * Ours (Airflow has no AIRFLOW_CTX_ names for them; its templates say `{{ data_interval_start }}`,
 * `{{ dag_run.run_after }}`): the run's data interval, when it has one, and its run_after.
 */
export function dagRunDatesEnv(ti: ClaimedTaskInstance): Record<string, string> {
  return {
    ...(ti.dataIntervalStart && ti.dataIntervalEnd
      ? {
          DAG_RUN_DATA_INTERVAL_START: airflowIsoDate(ti.dataIntervalStart),
          DAG_RUN_DATA_INTERVAL_END: airflowIsoDate(ti.dataIntervalEnd),
        }
      : {}),
    DAG_RUN_RUN_AFTER: airflowIsoDate(ti.runAfter),
  };
}

export class LocalExecutor {
  /** Tries launched and not yet ended, by `tryKey` (an old try and a new one are two entries). */
  private readonly running = new Map<string, RunningTry>();
  /** The latest try launched per task instance id. */
  private readonly latestTry = new Map<string, RunningTry>();
  /** Outcomes not yet written (database unreachable): written on the next heartbeat that works. */
  private readonly pendingFinishes: PendingFinish[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** When the last heartbeat that the database took was sent (performance.now()). */
  private heartbeatSentAt = performance.now();
  /** Writes the watchdogs' keepalives while tries run (not tied to the database: see start()). */
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private readonly watchdog: { deadlineMs: number; keepaliveMs: number };
  private heartbeatInFlight = false;
  private lastHeartbeatFailed = false;
  /** Task logs could not be written: tasks are handed back rather than run (see logsFailed). */
  private logsFailing = false;
  private logsRetryAt = 0;

  private readonly options: LocalExecutorOptions;

  constructor(options: LocalExecutorOptions) {
    this.options = options;
    this.watchdog = watchdogTiming(options.heartbeatIntervalMs, options.heartbeatTimeoutMs);
  }

  get parallelism(): number {
    return this.options.parallelism;
  }

  /** Slots taken: tries launched and not yet ended. */
  get slotsUsed(): number {
    return this.running.size;
  }

  get freeSlots(): number {
    const free = Math.max(0, this.options.parallelism - this.running.size);
    // While task logs cannot be written: nothing, then one task at a time to find out.
    if (this.logsFailing) return Date.now() < this.logsRetryAt ? 0 : Math.min(free, 1);
    return free;
  }

  start(): void {
    if (this.heartbeatTimer === undefined) this.heartbeatSentAt = performance.now();
    this.heartbeatTimer ??= setInterval(
      () => void this.heartbeat(),
      this.options.heartbeatIntervalMs,
    );
  }

  /** Starts a claimed try. Resolves once it was launched (not when it ends). */
  async launch(ti: ClaimedTaskInstance): Promise<void> {
    // An older try of this instance still running here (timed out, cleared, removed and re-added):
    // stop it and let it end first, as Airflow does, so two tries never run at once.
    const previous = this.latestTry.get(ti.id);
    if (previous !== undefined && previous.ti.tryNumber !== ti.tryNumber) {
      this.stop(previous, 'taken_away');
      await previous.done;
    }
    const entry: RunningTry = {
      ti,
      task: null,
      child: undefined,
      watchdog: undefined,
      stopReason: undefined,
      paused: false,
      timeout: undefined,
      killTimer: undefined,
      done: Promise.resolve(),
    };
    let resolveDone!: () => void;
    entry.done = new Promise((resolve) => (resolveDone = resolve));
    this.running.set(tryKey(ti), entry);
    this.latestTry.set(ti.id, entry);
    try {
      entry.task = await this.options.resolveTask(ti);
    } catch (error) {
      this.options.logger.error(
        { err: error, ti: ti.id },
        'cannot load the DAG of a claimed task instance',
      );
    }
    const task = entry.task;
    if (task === null || task.operator !== 'bash' || task.bashCommand === undefined) {
      // `empty` needs no process; a task missing from its version cannot run.
      const outcome: TryOutcome = task !== null && task.operator === 'empty' ? 'success' : 'failed';
      if (task === null)
        this.options.logger.error(
          { dagId: ti.dagId, taskId: ti.taskId, versionId: ti.versionId },
          'task not found in its DAG version',
        );
      await this.finish(entry, outcome);
      resolveDone();
      return;
    }

    // Held (not just its fd) until the process is gone: a FileHandle left to the garbage collector
    // closes its descriptor, which the pool may have reused for a database socket by then.
    let log: FileHandle | undefined;
    let path: string;
    try {
      path = taskLogPath(this.options.logsRoot, {
        dagId: ti.dagId,
        runId: ti.runId,
        taskId: ti.taskId,
        tryNumber: ti.tryNumber,
      });
    } catch (error) {
      // An id that cannot name a log file: this task's own problem, which a retry cannot fix.
      this.options.logger.error({ err: error, ti: ti.id }, 'cannot open the task log');
      await this.finish(entry, 'failed');
      resolveDone();
      return;
    }
    try {
      // Asynchronous: with many tasks starting at once, synchronous file calls stall the loop.
      await mkdir(dirname(path), { recursive: true });
      log = await open(path, 'a');
      writeSync(
        log.fd,
        `[${new Date().toISOString()}] try ${ti.tryNumber} of ${ti.dagId}/${ti.runId}/${ti.taskId}: bash -c ${JSON.stringify(task.bashCommand)}\n`,
      );
    } catch (error) {
      await log?.close().catch(() => undefined);
      await this.logsFailed(entry, error);
      resolveDone();
      return;
    }
    if (this.logsFailing) {
      this.logsFailing = false;
      this.options.logger.info(
        { logsRoot: this.options.logsRoot },
        'task logs can be written again',
      );
    }
    const logFile = log;
    const logFd = log.fd;

    let child: ChildProcess;
    try {
      // --norc: no ~/.bashrc of the scheduler's user (slow, and not the task's business).
      child = spawn('bash', ['--norc', '-c', TASK_GATE, task.bashCommand], {
        detached: true, // its own process group: a kill reaches everything the command started
        stdio: ['ignore', logFd, logFd, 'pipe'], // fd 3: TASK_GATE's
        // Never the scheduler's whole environment: DATABASE_URL and other secrets stay out.
        env: {
          ...this.options.taskEnv,
          ...dagRunConfEnv(ti),
          ...dagRunDatesEnv(ti),
          ...airflowContextEnv(ti),
        },
      });
    } catch (error) {
      // Refused before a process exists (a conf too large, or spawn's E2BIG at once for an
      // environment string over 128 KiB): this try fails with the reason in its log; the
      // scheduler goes on.
      const code = (error as NodeJS.ErrnoException).code;
      this.appendLog(
        logFd,
        `could not start: ${(error as Error).message}` +
          (code === 'E2BIG'
            ? ' (bash_command or an environment variable is over the 128 KiB Linux allows)'
            : ''),
      );
      this.options.logger.warn(
        { err: error, dagId: ti.dagId, runId: ti.runId, taskId: ti.taskId },
        'could not start a task; its try failed',
      );
      await logFile.close().catch(() => undefined);
      await this.finish(entry, 'failed');
      resolveDone();
      return;
    }
    entry.child = child;
    if (child.pid !== undefined) {
      try {
        // --norc: its stdin is a socket pair, from which bash would guess it was started by rshd
        // and source ~/.bashrc. Its own process group (detached), out of the task's.
        entry.watchdog = spawn('bash', ['--norc', '-c', TASK_WATCHDOG], {
          detached: true,
          stdio: ['pipe', 'ignore', logFd],
          env: {
            // Builtins and `date` only: the tasks' PATH finds bash and date as it found bash.
            PATH: this.options.taskEnv?.PATH ?? '/usr/local/bin:/usr/bin:/bin',
            DAGBAG_TASK_GROUP: String(child.pid),
            DAGBAG_TASK_WATCHDOG_SECONDS: String(this.watchdog.deadlineMs / 1000),
          },
        });
      } catch (error) {
        // Unwatched, the task could outlive this scheduler beside its retry elsewhere: not run.
        this.options.logger.warn({ err: error, ti: ti.id }, 'could not start a task watchdog');
        this.appendLog(logFd, `could not start its watchdog: ${(error as Error).message}`);
        this.signalGroup(entry, 'SIGKILL');
      }
      const watchdog = entry.watchdog;
      watchdog?.stdin?.on('error', () => undefined);
      watchdog?.once('error', (error) => {
        this.options.logger.warn({ err: error, ti: ti.id }, 'task watchdog failed; task killed');
        this.signalGroup(entry, 'SIGKILL');
      });
      // Its watchdog exists: the command may start (see TASK_GATE); without one it never does.
      const gate = child.stdio[3] as Writable | null | undefined;
      gate?.on('error', () => undefined);
      if (watchdog) gate?.end('\n');
      else gate?.destroy();
    }
    // Keepalives come from a timer of their own, whether or not the heartbeats reach the
    // database: during an outage tasks run on (the scheduler is alive); only a stopped scheduler
    // (or a stalled event loop) stops them.
    this.keepaliveTimer ??= setInterval(() => this.keepalive(), this.watchdog.keepaliveMs);
    this.keepaliveTimer.unref();
    this.options.metrics?.taskState('running');

    child.once('error', (error) => {
      this.appendLog(logFd, `could not start: ${error.message}`);
      if (child.pid === undefined) {
        // Never started, so no 'close' will come: end the try here.
        void logFile.close().catch(() => undefined);
        void this.finish(entry, 'failed').finally(resolveDone);
      }
    });
    // The try is over: closing the pipe makes the watchdog kill what the command left running.
    child.once('exit', () => entry.watchdog?.stdin?.end());
    child.once('close', (code, signal) => {
      if (entry.timeout) clearTimeout(entry.timeout);
      // The watchdog has killed whatever the command left behind (it outlives a SIGTERM).
      if (entry.killTimer) clearTimeout(entry.killTimer);
      const reason =
        entry.stopReason === 'timeout'
          ? `execution_timeout_seconds (${task.executionTimeoutSeconds}) exceeded`
          : signal
            ? `killed by ${signal}`
            : `exit code ${code}`;
      this.appendLog(logFd, reason);
      void logFile.close().catch(() => undefined);
      const outcome: TryOutcome =
        entry.stopReason !== undefined
          ? 'failed'
          : code === 0
            ? 'success'
            : code === SKIP_EXIT_CODE
              ? 'skipped'
              : 'failed';
      // Taken away (someone else owns the row now) or handed back: only say the process is gone.
      const releaseOnly = entry.stopReason === 'taken_away' || entry.stopReason === 'shutdown';
      void this.finish(entry, outcome, releaseOnly).finally(resolveDone);
    });

    if (task.executionTimeoutSeconds !== undefined) {
      entry.timeout = setTimeout(
        () => this.stop(entry, 'timeout'),
        task.executionTimeoutSeconds * 1000,
      );
    }
    const marked = await markTaskInstanceRunning(this.options.prisma, {
      id: ti.id,
      jobId: this.options.jobId,
      pid: child.pid ?? null,
    }).catch((error: unknown) => {
      this.options.logger.warn(
        { err: error, ti: ti.id },
        'could not mark a task instance running; it keeps its heartbeat',
      );
      return true;
    });
    if (!marked) this.stop(entry, 'taken_away');
  }

  /**
   * The try's log could not be opened or written (a full disk, a read-only or missing DATA_DIR):
   * not the task's fault, so the try is handed back (state scheduled, not counted) and this
   * executor runs nothing for LOG_RETRY_MS, then tries one task. Before, each such try failed at
   * once: with a full disk, a catchup DAG failed 1,100 runs in 90 s.
   */
  private async logsFailed(entry: RunningTry, error: unknown): Promise<void> {
    const { logger, logsRoot } = this.options;
    if (!this.logsFailing)
      logger.error(
        { err: error, logsRoot },
        `cannot write task logs under ${logsRoot} (${(error as NodeJS.ErrnoException).code ?? String(error)}): ` +
          'tasks are handed back, not run, until they can be written; free space there or set DATA_DIR to another folder',
      );
    this.logsFailing = true;
    this.logsRetryAt = Date.now() + LOG_RETRY_MS;
    await handBackTaskInstances(this.options.prisma, {
      jobId: this.options.jobId,
      ids: [entry.ti.id],
      reason: 'its task log cannot be written',
    }).catch((handBackError: unknown) =>
      logger.warn(
        { err: handBackError, ti: entry.ti.id },
        'could not hand back a task instance; a heartbeat timeout will',
      ),
    );
    this.running.delete(tryKey(entry.ti));
    if (this.latestTry.get(entry.ti.id) === entry) this.latestTry.delete(entry.ti.id);
  }

  /** A line of our own in the try's log; a full disk must not take the scheduler down with it. */
  private appendLog(fd: number, text: string): void {
    try {
      writeSync(fd, `[${new Date().toISOString()}] ${text}\n`);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'cannot write to a task log');
    }
  }

  /** SIGTERM to the whole group, SIGKILL if it lingers. */
  private stop(entry: RunningTry, reason: NonNullable<RunningTry['stopReason']>): void {
    if (
      entry.stopReason !== undefined ||
      entry.child?.pid === undefined ||
      entry.child.exitCode !== null
    )
      return;
    entry.stopReason = reason;
    const pid = entry.child.pid;
    this.options.logger.info(
      { ti: entry.ti.id, taskId: entry.ti.taskId, reason },
      'stopping task process group',
    );
    try {
      process.kill(-pid, 'SIGTERM');
      // A paused group takes the signal only once it runs again.
      if (entry.paused) this.signalGroup(entry, 'SIGCONT');
    } catch {
      return; // already gone
    }
    entry.killTimer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }, KILL_GRACE_MS);
  }

  private async finish(entry: RunningTry, outcome: TryOutcome, releaseOnly = false): Promise<void> {
    const pending: PendingFinish = {
      ti: entry.ti,
      outcome,
      retryDelaySeconds: entry.task?.retryDelaySeconds ?? 0,
      releaseOnly,
    };
    try {
      await this.writeFinish(pending);
    } catch (error) {
      this.options.logger.warn(
        { err: error, ti: entry.ti.id },
        'could not record a finished try; will retry',
      );
      this.pendingFinishes.push(pending);
    }
    this.running.delete(tryKey(entry.ti));
    if (this.latestTry.get(entry.ti.id) === entry) this.latestTry.delete(entry.ti.id);
    this.options.onTryFinished?.();
  }

  /** Writes a try's outcome if the instance is still ours, else only that its process is gone. */
  private async writeFinish(pending: PendingFinish): Promise<void> {
    const ref = { id: pending.ti.id, jobId: this.options.jobId, tryNumber: pending.ti.tryNumber };
    if (pending.releaseOnly) {
      await releaseTaskInstanceTry(this.options.prisma, ref);
      return;
    }
    const state = await finishTaskInstanceTry(this.options.prisma, {
      id: pending.ti.id,
      jobId: this.options.jobId,
      tryNumber: pending.ti.tryNumber,
      outcome: pending.outcome,
      retryDelaySeconds: pending.retryDelaySeconds,
    });
    if (state !== null) {
      this.options.metrics?.taskState(state);
      if (state === 'failed' || state === 'up_for_retry')
        await this.recordFailure(pending.ti, state);
    } else {
      await releaseTaskInstanceTry(this.options.prisma, ref);
      this.options.logger.info(
        { ti: pending.ti.id, taskId: pending.ti.taskId, tryNumber: pending.ti.tryNumber },
        'try ended but the task instance was no longer ours; left as is',
      );
    }
  }

  /**
   * A failed try goes to the audit trail (eventLogs); losing that entry never fails the task's
   * bookkeeping.
   */
  private async recordFailure(ti: ClaimedTaskInstance, state: string): Promise<void> {
    try {
      await recordEvent(this.options.prisma, {
        event: state,
        owner: 'scheduler',
        dagId: ti.dagId,
        runId: ti.runId,
        taskId: ti.taskId,
        mapIndex: ti.mapIndex,
        tryNumber: ti.tryNumber,
      });
    } catch (error) {
      this.options.logger.warn(
        { err: error, ti: ti.id },
        'could not record a failed try in the event log',
      );
    }
  }

  /**
   * One line to each running try's watchdog: its scheduler is alive (see TASK_WATCHDOG). Then,
   * if the tries' heartbeats have not been written for the watchdog's deadline, pauses them.
   */
  private keepalive(): void {
    for (const entry of this.running.values()) {
      const stdin = entry.watchdog?.stdin;
      if (stdin && !stdin.writableEnded && !stdin.destroyed) stdin.write('\n');
    }
    // Only an executor that heartbeats (started) can tell an unheard try from one never beaten.
    if (
      this.heartbeatTimer !== undefined &&
      performance.now() - this.heartbeatSentAt >= this.watchdog.deadlineMs
    )
      this.pauseUnheardTries();
  }

  /**
   * The database has not taken a heartbeat of these tries for TASK_HEARTBEAT_TIMEOUT_SECONDS
   * minus TASK_HEARTBEAT_INTERVAL_SECONDS: from the timeout on, another scheduler that reaches it
   * (this one is cut off: a partition, its own pooler down) may retry them. Running on, they ran
   * beside their retries (seen behind a cut TCP proxy: try 2 of a 40 s task started at the
   * timeout while try 1 ran on). Paused (SIGSTOP to the group; not the watchdog's), they wait:
   * when the database answers again, tries still ours resume (an outage of the whole database:
   * nobody retried them) and the others are stopped. Airflow's workers kill the task instead
   * after `max_failed_heartbeats`.
   */
  private pauseUnheardTries(): void {
    let paused = 0;
    for (const entry of this.running.values()) {
      if (entry.paused || entry.stopReason !== undefined || entry.child?.exitCode !== null)
        continue;
      if (entry.child?.pid === undefined) continue;
      if (this.signalGroup(entry, 'SIGSTOP')) {
        entry.paused = true;
        paused++;
      }
    }
    if (paused > 0)
      this.options.logger.warn(
        { paused, unheardMs: Math.round(performance.now() - this.heartbeatSentAt) },
        'task heartbeats not written for the heartbeat timeout minus an interval: task processes ' +
          'paused (SIGSTOP) so that no retry on another scheduler runs beside them; those still ' +
          'ours resume once the database answers',
      );
  }

  /** A signal to a try's process group; false if the group is gone. */
  private signalGroup(entry: RunningTry, signal: NodeJS.Signals): boolean {
    const pid = entry.child?.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Heartbeats running tries and writes outcomes that failed to be written before. */
  async heartbeat(): Promise<void> {
    if (this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    try {
      while (this.pendingFinishes.length > 0) {
        await this.writeFinish(this.pendingFinishes[0]!);
        this.pendingFinishes.shift();
      }
      const entries = [...this.running.entries()];
      // Sent before the database's now() is taken: what the tries' heartbeat says is no older.
      const sentAt = performance.now();
      const stillOurs = await heartbeatTaskInstances(this.options.prisma, {
        jobId: this.options.jobId,
        tries: entries.map(([, entry]) => entry.ti),
      });
      this.heartbeatSentAt = sentAt;
      let resumed = 0;
      for (const [key, entry] of entries) {
        if (!stillOurs.has(key) && entry.child !== undefined) this.stop(entry, 'taken_away');
        else if (entry.paused) {
          entry.paused = false;
          if (this.signalGroup(entry, 'SIGCONT')) resumed++;
        }
      }
      if (resumed > 0)
        this.options.logger.info({ resumed }, 'task heartbeats written again: tasks resumed');
      if (this.lastHeartbeatFailed) this.options.logger.info('task heartbeats written again');
      this.lastHeartbeatFailed = false;
    } catch (error) {
      if (!this.lastHeartbeatFailed)
        this.options.logger.warn(
          { err: error },
          'task heartbeat failed; tasks keep running (paused once it has failed for the heartbeat timeout minus an interval), retrying',
        );
      this.lastHeartbeatFailed = true;
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  /**
   * Stops for shutdown: running tries get `graceMs` to finish; the rest are killed and handed
   * back (state `scheduled`, the try not counted) for another scheduler.
   */
  async shutdown(graceMs: number): Promise<{ finished: number; handedBack: number }> {
    const before = this.running.size;
    const all = Promise.all([...this.running.values()].map((entry) => entry.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    const left = [...this.running.values()];
    for (const entry of left) this.stop(entry, 'shutdown');
    let handedBack = 0;
    /** Instances to hand back still (the database unreachable when we tried). */
    let toHandBack = left.map((entry) => entry.ti.id);
    const handBack = async () => {
      if (toHandBack.length === 0) return;
      handedBack += (
        await handBackTaskInstances(this.options.prisma, {
          jobId: this.options.jobId,
          ids: toHandBack,
          reason: 'its scheduler is shutting down (SCHEDULER_SHUTDOWN_GRACE_SECONDS passed)',
        })
      ).length;
      toHandBack = [];
    };
    if (left.length > 0) {
      await handBack().catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'could not hand back running task instances yet');
      });
      await Promise.race([
        Promise.all(left.map((entry) => entry.done)),
        new Promise((resolve) => setTimeout(resolve, KILL_GRACE_MS + 1000)),
      ]);
    }
    await this.heartbeat();
    // An outcome not yet written (the database unreachable when the try ended), or an instance
    // not yet handed back, exists only in this process: exiting would lose it, and another
    // scheduler would time the try out, failing a task that succeeded, running it again, or
    // counting a try the task never failed. So the process stays until they are written; a
    // second signal (or the service manager's kill) ends it at once, as before.
    if (this.pendingFinishes.length > 0 || toHandBack.length > 0) {
      this.options.logger.warn(
        { unwritten: this.pendingFinishes.length, notHandedBack: toHandBack.length },
        'waiting for the database to record finished tries and hand back the others before exiting (a second Ctrl-C or SIGTERM exits now; another scheduler then times them out)',
      );
      while (this.pendingFinishes.length > 0 || toHandBack.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, this.options.heartbeatIntervalMs));
        await handBack().catch(() => undefined);
        await this.heartbeat();
      }
      this.options.logger.info('finished tries recorded, the others handed back');
    }
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    return { finished: before - left.length, handedBack };
  }
}
