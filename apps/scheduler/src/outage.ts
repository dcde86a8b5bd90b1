/**
 * When the database goes away every periodic task fails at once, every loop. This keeps one
 * record per incident: the first failure is logged (with the error), the rest are not, the pause
 * before a failing task's next attempt doubles up to a ceiling, and the incident ends (logged
 * once) when every task that failed has succeeded again and nothing has failed for SETTLE_MS
 * since. A task that keeps failing for another reason therefore keeps one incident open instead
 * of logging on every loop, and a task that only meets the outage after the others have
 * recovered (its first run since, on a connection that died with it) belongs to the same one.
 *
 * A task that works again after failing means the database is back: the others waiting out a
 * pause (up to SCHEDULER_DB_BACKOFF_MAX_MS) try again at once, so that the scheduling loop, the
 * DAG processor and the cache reconciliation resume with the first of them rather than up to
 * that pause later (a scheduler without notifications had nothing else to wake its loop).
 */
import type { Logger } from '@dagbag/logger';

/** How long every task must have worked before an incident is over. */
export const SETTLE_MS = 5_000;

export class OutageTracker {
  private failingSince: number | undefined;
  /** When the last failing task succeeded again, while the incident settles. */
  private workingSince: number | undefined;
  private lastRecoveredAt: number | undefined;
  private readonly failingTasks = new Map<string, number>();
  /** How to try a failing task again now, instead of after its pause. */
  private readonly retries = new Map<string, () => void>();
  private failures = 0;

  private readonly logger: Logger;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: () => number;

  constructor(
    logger: Logger,
    baseDelayMs: number,
    maxDelayMs: number,
    clock: () => number = Date.now,
  ) {
    this.logger = logger;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.clock = clock;
  }

  /** Whether some task is failing now. */
  get failing(): boolean {
    return this.failingTasks.size > 0;
  }

  /**
   * Whether the database has been reachable for at least `ms` since the last incident (true when
   * there was none). Heartbeats could not be written during an outage, by any scheduler: until
   * every live one has had `ms` to write them again, an old heartbeat proves nothing.
   */
  reachableFor(ms: number): boolean {
    if (this.failingTasks.size > 0) return false;
    const since = this.workingSince ?? this.lastRecoveredAt;
    return since === undefined || this.clock() - since >= ms;
  }

  /**
   * Records a failure of `task`; returns how long it should wait before trying again. `retryNow`
   * is called instead if another failing task works again first (once; a later failure gives
   * another).
   */
  failed(task: string, error: unknown, retryNow?: () => void): number {
    this.failures++;
    if (retryNow) this.retries.set(task, retryNow);
    else this.retries.delete(task);
    const streak = (this.failingTasks.get(task) ?? 0) + 1;
    this.failingTasks.set(task, streak);
    this.workingSince = undefined;
    if (this.failingSince === undefined) {
      this.failingSince = this.clock();
      this.logger.error(
        { err: error, task },
        'scheduler cannot reach the database (or a query failed); backing off until it works again',
      );
    } else {
      this.logger.debug({ err: error, task, failures: this.failures }, 'still failing');
    }
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(streak, 20));
  }

  succeeded(task: string): void {
    if (this.failingSince === undefined) return;
    this.retries.delete(task);
    const recovered = this.failingTasks.delete(task);
    if (this.failingTasks.size > 0) {
      // Back from failing: the database answers again, the others need not wait out their pause.
      if (recovered) {
        const waiting = [...this.retries.values()];
        this.retries.clear();
        for (const retry of waiting) retry();
      }
      return;
    }
    const now = this.clock();
    this.workingSince ??= now;
    if (now - this.workingSince < SETTLE_MS) return;
    this.logger.info(
      { downMs: this.workingSince - this.failingSince, failures: this.failures },
      'scheduler reaches the database again; resuming',
    );
    this.lastRecoveredAt = this.workingSince;
    this.failingSince = undefined;
    this.workingSince = undefined;
    this.failures = 0;
  }
}
