/**
 * One iteration of the scheduling loop (docs/architecture.md, A scheduling loop):
 *  1. create runs whose schedule came due;
 *  2. start queued runs under max_active_runs (creating their task instances);
 *  3. examine up to N running runs, least recently examined first, FOR UPDATE SKIP LOCKED, without
 *     loading task instances: follow a DAG change with one bulk UPDATE, make due retries runnable,
 *     apply trigger rules (in SQL), finish the run when nothing is left;
 *  4. recover task instances whose heartbeat stopped;
 *  5. hand scheduled instances to the executor within its free slots.
 * Every DAG comes from the scheduler's DagBag.
 */
import {
  DagValidationError,
  intervalToRun,
  nextDagrunAfter,
  type DagBag,
  type DagVersionEntry,
} from '@dagbag/dagbag';
import {
  claimScheduledTaskInstances,
  createDueScheduledRuns,
  decideTaskInstances,
  failOrRetryTimedOut,
  recordEvent,
  failSilentSchedulerJobs,
  findTimedOutTaskInstances,
  finishRunsIfDone,
  lockRunsToExamine,
  markRunsExamined,
  queuedRunVersions,
  repointRunsToVersion,
  scheduleDueRetries,
  startQueuedRuns,
  type Prisma,
  type PrismaClient,
  type RunRef,
  type RunToExamine,
  type VersionSource,
  type VersionTasks,
} from '@dagbag/db';
import type { Logger } from '@dagbag/logger';
import type { LocalExecutor } from '../executor/local-executor.ts';
import type { SchedulerMetrics } from '../metrics.ts';
import { graphArrays, taskSpecs } from './graph.ts';

export interface SchedulingLoopOptions {
  prisma: PrismaClient;
  dagBag: DagBag;
  executor: Pick<LocalExecutor, 'freeSlots' | 'launch'> | undefined;
  jobId: number;
  hostname: string;
  maxDagRunsPerLoop: number;
  heartbeatTimeoutSeconds: number;
  /**
   * Look for timed-out task instances at most this often (they cannot time out faster than
   * heartbeats).
   */
  recoveryIntervalMs?: number;
  /**
   * Whether stale heartbeats may be judged now (default: always). The scheduler says no until the
   * database has been reachable for a whole heartbeat timeout after an outage, so that tasks that
   * kept running through it are not retried alongside themselves.
   */
  mayJudgeHeartbeats?: () => boolean;
  logger: Logger;
  metrics?: SchedulerMetrics;
  /**
   * Wall clock for schedules (tests pass a fixed one); database time is used for everything else.
   */
  now?: () => Date;
}

export interface LoopSummary {
  runsCreated: number;
  runsStarted: number;
  runsExamined: number;
  runsFinished: { success: number; failed: number };
  versionChanges: number;
  taskStateChanges: number;
  heartbeatTimeouts: number;
  launched: number;
  /** DAG versions of running runs loaded after the examining transactions, for the next loop. */
  versionsLoaded: number;
}

/**
 * Whether a loop changed anything (runs created, started or finished, task instances decided or
 * launched, a DAG change followed). Such a loop is followed by the next one at once, as Airflow's
 * scheduler skips its idle sleep after queueing work: each change may unblock the next (a started
 * run's first tasks, the runs left beyond SCHEDULER_MAX_DAGRUNS_PER_LOOP, a finished level's
 * downstream), and a loop that changed nothing waits for the interval or a wake-up. This ends: a
 * loop only changes what is unfinished.
 */
export function loopMadeProgress(summary: LoopSummary): boolean {
  return (
    summary.runsCreated > 0 ||
    summary.runsStarted > 0 ||
    summary.runsFinished.success + summary.runsFinished.failed > 0 ||
    summary.versionChanges > 0 ||
    summary.taskStateChanges > 0 ||
    summary.heartbeatTimeouts > 0 ||
    summary.launched > 0 ||
    summary.versionsLoaded > 0
  );
}

/** Queued DAGs looked at per loop; the rest wait for the next loop. */
const MAX_DAGS_STARTING_PER_LOOP = 100;
/**
 * Deciding up to SCHEDULER_MAX_DAGRUNS_PER_LOOP runs takes many statements in one transaction: more
 * room than the client's default, which is one statement's. The wait for a connection stays the
 * pool's (DATABASE_CONNECT_TIMEOUT_MS).
 */
const EXAMINE_TRANSACTION_TIMEOUT_MS = 60_000;
/**
 * A version that could not be loaded (its row is gone, or its document no longer validates) is
 * asked for again, and reported again, at most this often: its runs come round every loop when
 * little else runs, and each failed load would log its cause.
 */
const UNLOADABLE_RETRY_MS = 30_000;

export class SchedulingLoop {
  private readonly now: () => Date;
  private lastRecovery = Number.NEGATIVE_INFINITY;
  /** Versions loaded after the last examining transaction, for the next one (see examineRuns). */
  private loadedForExamine = new Map<string, DagVersionEntry>();
  /** Versions that could not be loaded, and when they were last tried (see loadVersion). */
  private readonly unloadable = new Map<string, number>();

  private readonly options: SchedulingLoopOptions;

  constructor(options: SchedulingLoopOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
  }

  async runOnce(): Promise<LoopSummary> {
    const summary: LoopSummary = {
      runsCreated: 0,
      runsStarted: 0,
      runsExamined: 0,
      runsFinished: { success: 0, failed: 0 },
      versionChanges: 0,
      taskStateChanges: 0,
      heartbeatTimeouts: 0,
      launched: 0,
      versionsLoaded: 0,
    };
    summary.runsCreated = await this.createDueRuns();
    summary.runsStarted = await this.startQueuedRuns();
    await this.examineRuns(summary);
    const recoveryDue =
      performance.now() - this.lastRecovery >= (this.options.recoveryIntervalMs ?? 0);
    if (recoveryDue && (this.options.mayJudgeHeartbeats?.() ?? true)) {
      summary.heartbeatTimeouts = await this.recoverTimedOutTasks();
      this.lastRecovery = performance.now();
    }
    summary.launched = await this.queueTasks();
    return summary;
  }

  /**
   * The DAG cache without loading: what the creating transaction may use. A load there would wait
   * for a second pooled connection while it holds one (with DATABASE_POOL_MAX=1, on itself until
   * the pool's timeout, every loop); a run whose version is not resident gets its task instances
   * when it starts, outside any transaction.
   */
  private readonly residentVersions: VersionSource = {
    get: (versionId) => Promise.resolve(this.options.dagBag.getIfCached(versionId) ?? null),
    invalidate: (versionId) => this.options.dagBag.invalidate(versionId),
  };

  async createDueRuns(): Promise<number> {
    const now = this.now();
    const created = await createDueScheduledRuns(this.options.prisma, {
      now,
      limit: this.options.maxDagRunsPerLoop,
      intervalToRun: (dag) => intervalToRun(dag, now),
      nextAfter: (dag) => nextDagrunAfter(dag, now),
      versions: this.residentVersions,
    });
    for (const run of created)
      this.options.logger.info({ dagId: run.dagId, runId: run.runId }, 'scheduled run created');
    this.options.metrics?.created(created.length);
    return created.length;
  }

  async startQueuedRuns(): Promise<number> {
    let started = 0;
    for (const { dagId, versionIds } of await queuedRunVersions(
      this.options.prisma,
      MAX_DAGS_STARTING_PER_LOOP,
    )) {
      let result = await this.startRunsOf(dagId, versionIds);
      if (result.staleVersionIds.length > 0) {
        // A version changed in place since the cache read it: reload it, so runs never start on
        // an older definition than the one stored (one hash comparison per start, no extra read).
        for (const versionId of result.staleVersionIds) this.options.dagBag.invalidate(versionId);
        const retried = await this.startRunsOf(dagId, versionIds);
        result = { ...retried, started: [...result.started, ...retried.started] };
      }
      for (const run of result.started)
        this.options.logger.info({ dagId, runId: run.runId }, 'run started');
      started += result.started.length;
    }
    return started;
  }

  private async startRunsOf(dagId: string, versionIds: readonly string[]) {
    const tasksByVersion = new Map<string, VersionTasks>();
    for (const versionId of versionIds) {
      const entry = await this.loadVersion(versionId, { dagId, runState: 'queued' });
      if (entry)
        tasksByVersion.set(versionId, { dagHash: entry.dagHash, tasks: taskSpecs(entry.dag) });
    }
    return startQueuedRuns(this.options.prisma, { dagId, tasksByVersion });
  }

  /**
   * Step 3: one transaction holding the examined runs' row locks until their decisions are
   * written. Runs on the same version are decided together: each statement serves all of them.
   *
   * The transaction never loads a DAG version: a load waits for a second pooled connection while
   * the transaction holds one, and with DATABASE_POOL_MAX=1 (or a pool full of such transactions)
   * it waited on itself until the pool's timeout, every loop: running runs never moved again. A
   * run whose version is not resident is left out (not marked examined); its version is loaded
   * after the commit and the runs are examined again, once in this loop, else in the next (which
   * follows at once).
   */
  async examineRuns(summary: LoopSummary): Promise<void> {
    let loaded = await this.examineResident(summary);
    if (loaded > 0) loaded = await this.examineResident(summary);
    summary.versionsLoaded = loaded;
  }

  /** One examining transaction over the runs whose version is at hand; returns versions loaded. */
  private async examineResident(summary: LoopSummary): Promise<number> {
    const loaded = this.loadedForExamine;
    this.loadedForExamine = new Map();
    /** Versions to load after the commit, with the runs waiting for each. */
    const toLoad = new Map<string, RunToExamine[]>();
    // Counted once the transaction commits: one rolled back (a lost connection, a timeout) changed
    // nothing, and its runs are decided again by a later loop, which counts them then.
    const stateChanges = new Map<string, number>();
    let examined = 0;
    await this.options.prisma.$transaction(
      async (tx) => {
        const locked = await lockRunsToExamine(tx, this.options.maxDagRunsPerLoop);
        const runs: RunToExamine[] = [];
        const byVersion = new Map<
          string,
          { entry: DagVersionEntry; runs: RunRef[]; moved: RunRef[] }
        >();
        for (const run of locked) {
          const wanted = run.latestVersionId ?? run.versionId;
          if (wanted === null) continue;
          const entry = this.options.dagBag.getIfCached(wanted) ?? loaded.get(wanted);
          if (entry === undefined) {
            const waiting = toLoad.get(wanted);
            if (waiting) waiting.push(run);
            else toLoad.set(wanted, [run]);
            continue;
          }
          runs.push(run);
          let group = byVersion.get(entry.versionId);
          if (group === undefined)
            byVersion.set(entry.versionId, (group = { entry, runs: [], moved: [] }));
          const ref = { runPk: run.id, dagId: run.dagId, runId: run.runId };
          group.runs.push(ref);
          if (entry.versionId !== run.versionId) group.moved.push(ref);
        }
        for (const { entry, moved } of byVersion.values()) {
          if (moved.length === 0) continue;
          // The DAG changed mid-run: every run moving to this version in one UPDATE (plus one
          // INSERT).
          const result = await repointRunsToVersion(tx, {
            runs: moved,
            versionId: entry.versionId,
            tasks: taskSpecs(entry.dag),
          });
          summary.versionChanges += moved.length;
          this.options.logger.info(
            {
              dagId: entry.dagId,
              runIds: moved.map((run) => run.runId),
              to: entry.versionId,
              ...result,
            },
            'DAG changed during the run: unfinished task instances follow the new version',
          );
        }
        for (const { entry, runs: group } of byVersion.values())
          await this.decide(tx, entry, group, summary, stateChanges);
        await markRunsExamined(
          tx,
          runs.map((run) => run.id),
        );
        summary.runsExamined += runs.length;
        examined = runs.length;
      },
      { timeout: EXAMINE_TRANSACTION_TIMEOUT_MS },
    );
    this.options.metrics?.examined(examined);
    for (const [state, count] of stateChanges) this.options.metrics?.taskState(state, count);
    // Asked for together, the DAG cache fetches them in one query (misses of one turn are batched).
    // Runs whose version cannot be loaded go to the back of the queue, as if examined: left at its
    // head, SCHEDULER_MAX_DAGRUNS_PER_LOOP of them kept every other run from being examined.
    const stuck: number[] = [];
    await Promise.all(
      [...toLoad].map(async ([versionId, runs]) => {
        const entry = await this.loadVersion(versionId, {
          dagId: runs[0]!.dagId,
          runState: 'running',
          runIds: runs.map((run) => run.runId),
        });
        if (entry !== null) this.loadedForExamine.set(entry.versionId, entry);
        else stuck.push(...runs.map((run) => run.id));
      }),
    );
    await markRunsExamined(this.options.prisma, stuck);
    return this.loadedForExamine.size;
  }

  private async decide(
    tx: Prisma.TransactionClient,
    entry: DagVersionEntry,
    runs: RunRef[],
    summary: LoopSummary,
    stateChanges: Map<string, number>,
  ): Promise<void> {
    const count = (state: string, changes: number) =>
      stateChanges.set(state, (stateChanges.get(state) ?? 0) + changes);
    const retries = await scheduleDueRetries(tx, runs);
    count('scheduled', retries);
    summary.taskStateChanges += retries;
    const graph = graphArrays(entry.dag);
    // Each pass decides one more level (an upstream_failed or a finished empty task unblocks the
    // next); a DAG needs at most as many passes as it has tasks.
    for (let pass = 0; pass <= graph.taskIds.length; pass++) {
      const decisions = await decideTaskInstances(tx, { runs, graph });
      if (decisions.length === 0) break;
      summary.taskStateChanges += decisions.length;
      for (const decision of decisions) count(decision.state, 1);
    }
    for (const run of await finishRunsIfDone(tx, { runs, leafTaskIds: graph.leafTaskIds })) {
      summary.runsFinished[run.state]++;
      this.options.logger.info(
        { dagId: run.dagId, runId: run.runId, state: run.state },
        'run finished',
      );
    }
  }

  /**
   * A version runs need, through the DAG cache; null when it cannot be loaded (its row is gone, or
   * its document does not validate). Only the runs on it wait: the others go on. It is tried
   * again, and reported (once, naming its runs), at most every UNLOADABLE_RETRY_MS.
   */
  private async loadVersion(
    versionId: string,
    runs: { dagId: string; runState: 'queued' | 'running'; runIds?: string[] },
  ): Promise<DagVersionEntry | null> {
    const triedAt = this.unloadable.get(versionId);
    if (triedAt !== undefined && performance.now() - triedAt < UNLOADABLE_RETRY_MS) return null;
    let entry: DagVersionEntry | null;
    let cause: string;
    try {
      entry = await this.options.dagBag.get(versionId);
      cause = 'no such version, or it has no serialized DAG';
    } catch (error) {
      // A database error is not the version's fault: the loop's step fails and is retried.
      if (!(error instanceof DagValidationError)) throw error;
      entry = null;
      cause = error.message;
    }
    if (entry !== null) {
      this.unloadable.delete(versionId);
      return entry;
    }
    this.unloadable.set(versionId, performance.now());
    this.options.logger.error(
      { versionId, ...runs, cause },
      'DAG version cannot be loaded: its runs wait (restore it, or mark the runs failed)',
    );
    return null;
  }

  /**
   * Step 4: instances nobody heartbeats are retried (tries left) or failed, by whichever scheduler
   * sees them.
   */
  async recoverTimedOutTasks(): Promise<number> {
    const { prisma, heartbeatTimeoutSeconds } = this.options;
    await failSilentSchedulerJobs(prisma, heartbeatTimeoutSeconds);
    const candidates = await findTimedOutTaskInstances(prisma, {
      timeoutSeconds: heartbeatTimeoutSeconds,
      limit: 100,
    });
    if (candidates.length === 0) return 0;
    const items = [];
    for (const ti of candidates) {
      const entry = ti.versionId ? await this.retryDelaySource(ti.versionId) : null;
      items.push({
        id: ti.id,
        tryNumber: ti.tryNumber,
        retryDelaySeconds: entry?.dag.tasks.get(ti.taskId)?.retryDelaySeconds ?? 0,
      });
    }
    const changed = await failOrRetryTimedOut(prisma, {
      timeoutSeconds: heartbeatTimeoutSeconds,
      items,
    });
    for (const ti of changed) {
      const candidate = candidates.find((c) => c.id === ti.id)!;
      this.options.logger.warn(
        {
          dagId: candidate.dagId,
          runId: candidate.runId,
          taskId: candidate.taskId,
          tryNumber: candidate.tryNumber,
          state: ti.state,
        },
        'task instance heartbeat timed out',
      );
      this.options.metrics?.heartbeatTimeout(ti.state);
      this.options.metrics?.taskState(ti.state);
      await recordEvent(prisma, {
        event: 'heartbeat timeout',
        owner: 'scheduler',
        dagId: candidate.dagId,
        runId: candidate.runId,
        taskId: candidate.taskId,
        tryNumber: candidate.tryNumber,
        extra: { state: ti.state, timeout_seconds: heartbeatTimeoutSeconds },
      });
    }
    return changed.length;
  }

  /**
   * The version a timed-out instance ran on, for its task's retry delay; null when its document no
   * longer validates (the delay is then 0): thrown, it failed the loop before anything launched,
   * every loop. A database error still fails the step, which is retried.
   */
  private async retryDelaySource(versionId: string): Promise<DagVersionEntry | null> {
    try {
      return await this.options.dagBag.get(versionId);
    } catch (error) {
      if (error instanceof DagValidationError) return null;
      throw error;
    }
  }

  /** Step 5: claim what fits in the executor's free slots and launch it. */
  async queueTasks(): Promise<number> {
    const executor = this.options.executor;
    if (executor === undefined) return 0;
    const claimed = await claimScheduledTaskInstances(this.options.prisma, {
      jobId: this.options.jobId,
      limit: executor.freeSlots,
      hostname: this.options.hostname,
      heartbeatTimeoutSeconds: this.options.heartbeatTimeoutSeconds,
    });
    this.options.metrics?.taskState('queued', claimed.length);
    // Side by side: each launch waits on the file system and one UPDATE, and the claimed tries are
    // distinct instances (a new try of one instance still waits for its own older try).
    await Promise.all(claimed.map((ti) => executor.launch(ti)));
    return claimed.length;
  }
}
