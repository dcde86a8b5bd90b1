/**
 * Cron timetables (croner): which interval a run covers and when a scheduled one may be created: a
 * DAG-domain fact both apps need (the scheduler's runs, the API's manual triggers). The cron
 * expression is read in the DAG's time zone (an IANA name, DST included, or a fixed offset such as
 * +01:00; UTC when none), as Airflow reads it in the DAG's timezone.
 * As Airflow's CronDataIntervalTimetable (its `[scheduler] create_cron_data_intervals = True`; the
 * default is False from Airflow 3 on), a run's logical date is the start of its data interval and
 * the run is created once the interval has ended. Without catchup, intervals missed while nothing
 * ran are skipped: only the latest complete one is run.
 */
import { Cron } from 'croner';

/** Where a DAG's next scheduled run lies (Airflow's `dag.next_dagrun_*`). */
export interface NextDagrun {
  logicalDate: Date;
  dataIntervalStart: Date;
  dataIntervalEnd: Date;
  createAfter: Date;
}

/** A scheduled DAG and its stored next run, as the scheduler reads it. */
export interface DueDag extends NextDagrun {
  schedule: string;
  startDate: Date | null;
  /** IANA name or fixed offset; null: UTC. */
  timezone: string | null;
  catchup: boolean;
}

const FIXED_OFFSET = /^([+-])(\d{2}):(\d{2})$/;

function cronOf(schedule: string, timezone: string | null): Cron {
  const fixed = timezone === null ? null : FIXED_OFFSET.exec(timezone);
  const zone = fixed
    ? { utcOffset: (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3])) }
    : { timezone: timezone ?? 'UTC' };
  return new Cron(schedule, { paused: true, mode: '5-part', ...zone });
}

function interval(cron: Cron, start: Date): NextDagrun | null {
  const end = cron.nextRun(start);
  if (end === null) return null;
  return { logicalDate: start, dataIntervalStart: start, dataIntervalEnd: end, createAfter: end };
}

/** The latest interval that ended at or before `now`, not starting before `startDate`. */
function latestComplete(cron: Cron, startDate: Date | null, now: Date): NextDagrun | null {
  const [end, start] = cron.previousRuns(2, new Date(now.getTime() + 1));
  if (end === undefined || start === undefined || (startDate !== null && start < startDate))
    return null;
  return { logicalDate: start, dataIntervalStart: start, dataIntervalEnd: end, createAfter: end };
}

/** The first interval at or after `startDate`. */
function firstFrom(cron: Cron, startDate: Date): NextDagrun | null {
  const start = cron.nextRun(new Date(startDate.getTime() - 1));
  return start === null ? null : interval(cron, start);
}

/**
 * The first run of a newly seen (or rescheduled) DAG; null for manual-only DAGs. `after`: the end
 * of the last scheduled run's data interval; a rescheduled DAG continues from there (Airflow's
 * next_dagrun_info of the last automated run), never from start_date again.
 */
export function firstDagrun(
  schedule: string | null,
  startDate: Date | null,
  catchup: boolean,
  now: Date,
  after: Date | null = null,
  timezone: string | null = null,
): NextDagrun | null {
  if (schedule === null) return null;
  const cron = cronOf(schedule, timezone);
  if (after !== null) {
    const next = firstFrom(cron, startDate !== null && startDate > after ? startDate : after);
    if (next === null || catchup || next.createAfter > now) return next;
    const latest = latestComplete(cron, startDate, now);
    return latest !== null && latest.dataIntervalStart > next.dataIntervalStart ? latest : next;
  }
  const earliest = startDate === null ? null : firstFrom(cron, startDate);
  if (catchup && earliest !== null) return earliest;
  const latest = latestComplete(cron, startDate, now);
  if (latest !== null) return latest;
  return earliest ?? interval(cron, cron.nextRun(now) ?? now);
}

/**
 * The interval a due DAG runs now: the stored next one, or without catchup the latest complete
 * interval when the stored one is older (the DAG waited at max_active_runs, or nothing ran for a
 * while): Airflow runs only the latest then, never the backlog.
 */
export function intervalToRun(dag: DueDag, now: Date): NextDagrun {
  const stored = {
    logicalDate: dag.logicalDate,
    dataIntervalStart: dag.dataIntervalStart,
    dataIntervalEnd: dag.dataIntervalEnd,
    createAfter: dag.createAfter,
  };
  if (dag.catchup) return stored;
  const latest = latestComplete(cronOf(dag.schedule, dag.timezone), dag.startDate, now);
  return latest !== null && latest.dataIntervalStart > dag.dataIntervalStart ? latest : stored;
}

/** The run after the one just created (`dag`'s current next_dagrun_*). */
export function nextDagrunAfter(dag: DueDag, now: Date): NextDagrun | null {
  const cron = cronOf(dag.schedule, dag.timezone);
  const next = interval(cron, dag.dataIntervalEnd);
  if (next === null || dag.catchup || next.createAfter > now) return next;
  // Behind (the scheduler was down): skip to the latest complete interval, as catchup=false does.
  const latest = latestComplete(cron, dag.startDate, now);
  return latest !== null && latest.dataIntervalStart > dag.dataIntervalStart ? latest : next;
}

/**
 * The data interval of a manual run for `logicalDate`, as Airflow's trigger infers it when none is
 * given (`infer_manual_data_interval`): without a schedule exactly `[logicalDate, logicalDate]`;
 * with a cron schedule the last complete interval ending at or before `logicalDate` (a daily DAG
 * triggered for 10:30 on the 25th covers the 24th to the 25th), as CronDataIntervalTimetable.
 * The run's run_after is the interval's end.
 */
export function manualDataInterval(
  schedule: string | null,
  timezone: string | null,
  logicalDate: Date,
): { start: Date; end: Date } {
  if (schedule !== null) {
    const [end, start] = cronOf(schedule, timezone).previousRuns(
      2,
      new Date(logicalDate.getTime() + 1),
    );
    if (end !== undefined && start !== undefined) return { start, end };
  }
  return { start: logicalDate, end: logicalDate };
}
