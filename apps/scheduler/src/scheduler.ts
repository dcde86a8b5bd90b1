/**
 * `createScheduler`: the DAG file processor, the scheduling loop and the local executor of one
 * scheduler process, sharing one `scheduler` DagBag. Several may run in one process (tests) or in
 * several processes against one database: a job row with a heartbeat says who is alive.
 */
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Meter } from '@opentelemetry/api';
import { DagBag, type DagBagOptions } from '@dagbag/dagbag';
import {
  announcesWork,
  createDagVersionLoader,
  DagProcessorLock,
  endSchedulerJob,
  heartbeatSchedulerJob,
  keepCacheCoherent,
  Notifier,
  registerSchedulerJob,
  type PrismaClient,
} from '@dagbag/db';
import type { Logger } from '@dagbag/logger';
import type { SchedulerConfig } from './config.ts';
import { LocalExecutor } from './executor/local-executor.ts';
import { loopMadeProgress, SchedulingLoop, type LoopSummary } from './loop/scheduling-loop.ts';
import { SchedulerMetrics } from './metrics.ts';
import { OutageTracker } from './outage.ts';
import { DagFileProcessor, type ProcessorSummary } from './processor/dag-file-processor.ts';

export interface SchedulerOptions {
  prisma: PrismaClient;
  /** The database (DATABASE_URL), which may be a pooler in transaction mode. */
  databaseUrl: string;
  /**
   * For the connections that hold a session of their own: the DAG processor's lock (a
   * session-level advisory lock) and the notification listener (LISTEN). DATABASE_DIRECT_URL when
   * set: through a pooler in transaction mode the lock would be taken on whichever server
   * connection ran that statement and stay there, held for nobody (no processor after a restart)
   * or shared by every client that lands on it (two processors at once). Default `databaseUrl`.
   */
  sessionUrl?: string;
  config: SchedulerConfig;
  logger: Logger;
  meter?: Meter;
  /** Where task logs go; default `<config.dataDir>/logs`. */
  logsRoot?: string;
  /** Run the DAG file processor (default true). */
  processDagFiles?: boolean;
  /** Cache options laid over `config.dagCache` (tests). */
  dagBag?: Partial<Pick<DagBagOptions, 'settings' | 'admission'>>;
  /** Wall clock for schedules. */
  now?: () => Date;
  hostname?: string;
  /**
   * DATABASE_NOTIFICATIONS: listen for database notifications (one connection to `sessionUrl`):
   * new work wakes the loop at once, a version changed in place leaves the DAG cache at once.
   * Default false: polling only.
   */
  notifications?: boolean;
}

export interface Scheduler {
  readonly jobId: number;
  readonly dagBag: DagBag;
  readonly executor: LocalExecutor;
  /** Starts the periodic work (processor, loop, heartbeats, cache reconciliation). */
  start(): void;
  /** One processor pass now (tests). */
  processDagFiles(): Promise<ProcessorSummary>;
  /** One loop iteration now (tests, benchmarks). */
  runLoopOnce(): Promise<LoopSummary>;
  /** Loop iterations run so far (timer, wake-ups and runLoopOnce alike). */
  readonly loopsRun: number;
  /** The database notification listener; undefined with notifications off. */
  readonly notifier: Notifier | undefined;
  /** Stop taking work; running tasks get `graceMs` to finish, then are handed back. */
  stop(graceMs?: number): Promise<void>;
}

export async function createScheduler(options: SchedulerOptions): Promise<Scheduler> {
  const { prisma, config, logger } = options;
  const hostname = options.hostname ?? osHostname();
  const jobId = await registerSchedulerJob(prisma, { hostname, pid: process.pid });
  const log = logger.child({ jobId });
  const dagBag = new DagBag({
    role: 'scheduler',
    loader: createDagVersionLoader(prisma),
    logger: log,
    ...(options.meter ? { meter: options.meter } : {}),
    settings: { ...config.dagCache, ...options.dagBag?.settings },
    ...(options.dagBag?.admission !== undefined ? { admission: options.dagBag.admission } : {}),
  });

  // A restarted scheduler loads the versions of its unfinished runs in one query rather than
  // meeting them as one miss each in its first loops (the notifications resync calls it too).
  await dagBag
    .prewarm()
    .catch((error: unknown) =>
      log.warn({ err: error }, 'could not prewarm the DAG cache; versions load on first use'),
    );

  let executor!: LocalExecutor;
  const metrics = new SchedulerMetrics(options.meter, {
    used: () => executor.slotsUsed,
    total: () => executor.parallelism,
  });
  const outage = new OutageTracker(log, config.loopIntervalMs, config.dbBackoffMaxMs);
  let stopping = false;
  let wake: (() => void) | undefined;
  /** New work arrived while the loop was running: run again right after, not after the interval. */
  let wakeRequested = false;
  /**
   * Debounced: an idle loop runs at once; everything that arrives while it runs (a burst of
   * 1,000 notifications included) is served by ONE more loop right after it.
   */
  const requestWake = () => {
    if (wake) wake();
    else wakeRequested = true;
  };

  executor = new LocalExecutor({
    prisma,
    jobId,
    parallelism: config.parallelism,
    logsRoot: options.logsRoot ?? join(config.dataDir, 'logs'),
    heartbeatIntervalMs: config.heartbeatIntervalSeconds * 1000,
    heartbeatTimeoutMs: config.heartbeatTimeoutSeconds * 1000,
    logger: log.child({ component: 'executor' }),
    metrics,
    taskEnv: config.taskEnv,
    resolveTask: async (ti) => {
      if (ti.versionId === null) return null;
      return (await dagBag.get(ti.versionId))?.dag.tasks.get(ti.taskId) ?? null;
    },
    // A finished try may unblock downstream tasks: look again now rather than after the interval.
    onTryFinished: requestWake,
  });
  const loop = new SchedulingLoop({
    prisma,
    dagBag,
    executor,
    jobId,
    hostname,
    maxDagRunsPerLoop: config.maxDagRunsPerLoop,
    heartbeatTimeoutSeconds: config.heartbeatTimeoutSeconds,
    recoveryIntervalMs: config.heartbeatIntervalSeconds * 1000,
    mayJudgeHeartbeats: () => outage.reachableFor(config.heartbeatTimeoutSeconds * 1000),
    logger: log.child({ component: 'loop' }),
    metrics,
    ...(options.now ? { now: options.now } : {}),
  });
  const processor = new DagFileProcessor({
    prisma,
    lock: new DagProcessorLock(options.sessionUrl ?? options.databaseUrl),
    dagsFolder: config.dagsFolder,
    logger: log.child({ component: 'dag-processor' }),
    ...(options.now ? { now: options.now } : {}),
  });

  const timers = new Set<NodeJS.Timeout>();
  const activeTasks = new Set<Promise<unknown>>();

  /**
   * Runs `task` every `intervalMs` (after each run ends), backing off while it fails. `wakeable`:
   * new work runs it at once. `probe`: it never waits longer than its interval, even failing, so
   * that it notices the database back within that interval and the others, backing off for up to
   * SCHEDULER_DB_BACKOFF_MAX_MS, try again with it (see OutageTracker).
   */
  function every(
    name: string,
    intervalMs: () => number,
    task: () => Promise<unknown>,
    { wakeable = false, probe = false }: { wakeable?: boolean; probe?: boolean } = {},
  ): void {
    const tick = async () => {
      if (stopping) return;
      let delay = intervalMs();
      if (wakeable) wakeRequested = false;
      /** Set once the next attempt is scheduled: runs it now instead of after `delay`. */
      let attemptNow: (() => void) | undefined;
      let retryAsked = false;
      const running = task().then(
        () => outage.succeeded(name),
        (error: unknown) => {
          // Another task reaching the database ends the wait (the outage is over).
          const pause = outage.failed(name, error, () => {
            if (attemptNow) attemptNow();
            else retryAsked = true;
          });
          delay = probe ? Math.min(pause, intervalMs()) : pause;
        },
      );
      activeTasks.add(running);
      await running;
      activeTasks.delete(running);
      if (stopping) return;
      if (wakeable && wakeRequested && !outage.failing) delay = 0;
      if (retryAsked) delay = 0;
      let attempted = false;
      const attempt = () => {
        if (attempted) return;
        attempted = true;
        clearTimeout(timer);
        timers.delete(timer);
        if (wakeable) wake = undefined;
        void tick();
      };
      const timer = setTimeout(attempt, delay);
      timers.add(timer);
      attemptNow = () => setImmediate(attempt);
      if (wakeable) {
        wake = () => {
          wake = undefined;
          attemptNow?.();
        };
      }
    };
    void tick();
  }

  const notifier = options.notifications
    ? new Notifier({
        url: options.sessionUrl ?? options.databaseUrl,
        logger: log.child({ component: 'notifications' }),
        ...(options.meter ? { meter: options.meter } : {}),
        applicationName: 'dagbag-scheduler-listener',
        backoffMaxMs: config.dbBackoffMaxMs,
      })
    : undefined;
  if (notifier) {
    keepCacheCoherent(notifier, dagBag, log, { prewarmAfterGap: true });
    // Every channel but the listing's announces work (a run, a finished task, a new version, an
    // unpaused DAG), and after a gap whatever was announced meanwhile is looked for.
    notifier.subscribe((event) => {
      if (
        (event.type === 'notification' && announcesWork(event.channel)) ||
        (event.type === 'listening' && event.resync)
      )
        requestWake();
    });
  }

  let loopsRun = 0;
  const loopStarted = () => {
    loopsRun++;
    const started = performance.now();
    return loop
      .runOnce()
      .then(
        (summary) => {
          // Work done may have unblocked more: the next loop runs at once rather than after the
          // interval.
          if (loopMadeProgress(summary)) wakeRequested = true;
          return summary;
        },
        (error: unknown) => {
          metrics.loopFailed();
          throw error;
        },
      )
      .finally(() => metrics.loop((performance.now() - started) / 1000));
  };

  return {
    jobId,
    dagBag,
    executor,
    start() {
      log.info(
        {
          hostname,
          pid: process.pid,
          settings: config.effective,
        },
        'scheduler started',
      );
      executor.start();
      notifier?.start();
      if (options.processDagFiles !== false)
        every(
          'dag-processor',
          () => config.dagDirScanSeconds * 1000,
          () => processor.processOnce(),
        );
      every('scheduling-loop', () => config.loopIntervalMs, loopStarted, { wakeable: true });
      every(
        'job-heartbeat',
        () => config.heartbeatIntervalSeconds * 1000,
        async () => {
          if (await heartbeatSchedulerJob(prisma, jobId)) {
            log.warn(
              'this scheduler had been declared dead by another (no heartbeat for the timeout); its earlier tasks were recovered elsewhere',
            );
          }
        },
        // One cheap statement per interval during an outage: the first sign the database is back.
        { probe: true },
      );
      every(
        'dag-cache-reconcile',
        () => config.reconcileSeconds * 1000,
        () => dagBag.reconcile(),
      );
    },
    notifier,
    get loopsRun() {
      return loopsRun;
    },
    processDagFiles: () => processor.processOnce(),
    runLoopOnce: loopStarted,
    async stop(graceMs = config.shutdownGraceSeconds * 1000) {
      if (stopping) return;
      stopping = true;
      log.info(
        { graceMs, running: executor.slotsUsed },
        'scheduler stopping: no new work; running tasks may finish',
      );
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await notifier?.close();
      await Promise.allSettled([...activeTasks]);
      // The job stays alive while its tasks drain: others judge a task by its job's heartbeat
      // too, and a grace longer than the heartbeat timeout must not get running tasks failed.
      let beat: Promise<unknown> = Promise.resolve();
      const jobHeartbeat = setInterval(() => {
        beat = heartbeatSchedulerJob(prisma, jobId).catch((error: unknown) =>
          log.warn({ err: error }, 'job heartbeat failed while draining'),
        );
      }, config.heartbeatIntervalSeconds * 1000);
      const { finished, handedBack } = await executor
        .shutdown(graceMs)
        .finally(() => clearInterval(jobHeartbeat));
      await beat; // one in flight must not mark the job running again after it ended
      await endSchedulerJob(prisma, jobId, 'success').catch((error: unknown) =>
        log.warn({ err: error }, 'could not end the job row'),
      );
      await processor.close();
      dagBag.close();
      log.info({ finished, handedBack }, 'scheduler stopped');
    },
  };
}
