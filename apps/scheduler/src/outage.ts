/**
 * When the database goes away every periodic task fails at once, every loop. This keeps one
 * record per incident: the first failure is logged (with the error), the rest are not, the pause
 * before the next attempt doubles up to a ceiling, and the first success logs the recovery.
 */
import type { Logger } from '@dagbag/logger';

export class OutageTracker {
  private failingSince: number | undefined;
  private failures = 0;

  constructor(
    private readonly logger: Logger,
    private readonly baseDelayMs: number,
    private readonly maxDelayMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get failing(): boolean {
    return this.failingSince !== undefined;
  }

  /** Records a failure of `task`; returns how long to wait before trying again. */
  failed(task: string, error: unknown): number {
    this.failures++;
    if (this.failingSince === undefined) {
      this.failingSince = this.clock();
      this.logger.error({ err: error, task }, 'scheduler cannot reach the database (or a query failed); backing off until it works again');
    } else {
      this.logger.debug({ err: error, task, failures: this.failures }, 'still failing');
    }
    return this.delay();
  }

  succeeded(): void {
    if (this.failingSince === undefined) return;
    this.logger.info({ downMs: this.clock() - this.failingSince, failures: this.failures }, 'scheduler reaches the database again; resuming');
    this.failingSince = undefined;
    this.failures = 0;
  }

  delay(): number {
    if (this.failingSince === undefined) return this.baseDelayMs;
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.failures, 20));
  }
}
