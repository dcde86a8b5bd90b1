/**
 * Cron timetables: which interval a run covers and when a scheduled one may be created: a
 * DAG-domain fact both apps need (the scheduler's runs, the API's manual triggers). The cron
 * expression is read in the DAG's time zone (an IANA name, DST included, or a fixed offset such as
 * +01:00; UTC when none), as Airflow reads it in the DAG's timezone.
 * As Airflow's CronDataIntervalTimetable (its `[scheduler] create_cron_data_intervals = True`; the
 * default is False from Airflow 3 on), a run's logical date is the start of its data interval and
 * the run is created once the interval has ended. Without catchup, intervals missed while nothing
 * ran are skipped: only the latest complete one is run.
 *
 * The arithmetic is Airflow's (`timetables/interval.py` and `_cron.py`), so that runs fall on the
 * same instants across daylight saving time:
 * - the cron expression is evaluated on the wall clock (croner in UTC, which has no DST), and a
 *   wall-clock time is made an instant as Airflow's `make_aware` does with fold=1: a time that
 *   happens twice (DST ends) is its second occurrence, a time that does not exist (DST starts) is
 *   moved forward by the length of the gap (02:30 becomes 03:30);
 * - a cron that fires in every hour (hour field `*`) steps by the wall-clock difference in real
 *   time instead, so an hourly DAG stays one real hour apart through both changes;
 * - the next and previous cron times are strictly after and before the given instant, which
 *   Airflow's newer releases guarantee next to a change (a manual interval is never empty).
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
const DAY_MS = 86_400_000;
/** Airflow's `cron_presets`, for the hour field of a preset. */
const PRESETS: Readonly<Record<string, string>> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

/** The UTC offset of a time zone at an instant, in milliseconds. */
type Zone = (instant: number) => number;

function zoneOf(timezone: string | null): Zone {
  if (timezone === null) return () => 0;
  const fixed = FIXED_OFFSET.exec(timezone);
  if (fixed) {
    const offset =
      (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3])) * 60_000;
    return () => offset;
  }
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return (instant) => {
    const parts = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
    for (const part of format.formatToParts(instant))
      if (part.type in parts) parts[part.type as keyof typeof parts] = Number(part.value);
    const wall = Date.UTC(
      parts.year,
      parts.month - 1,
      parts.day,
      parts.hour,
      parts.minute,
      parts.second,
    );
    return wall - (instant - (((instant % 1000) + 1000) % 1000));
  };
}

/** Whether the hour field names all 24 hours (croniter normalizes such a field to `*`). */
function firesEveryHour(expression: string): boolean {
  const hourField = (PRESETS[expression] ?? expression).trim().split(/\s+/)[1] ?? '';
  const hours = new Set<number>();
  for (const part of hourField.split(',')) {
    const match = /^(\*|\?|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    if (!match) return false;
    const wild = match[1] === '*' || match[1] === '?';
    const first = wild ? 0 : Number(match[1]);
    const last = match[2] !== undefined ? Number(match[2]) : wild || match[3] ? 23 : first;
    const step = match[3] !== undefined ? Number(match[3]) : 1;
    if (step < 1) return false;
    for (let hour = first; hour <= last; hour += step) hours.add(hour);
  }
  return hours.size === 24;
}

/** Airflow's CronMixin + CronDataIntervalTimetable over one expression and time zone. */
class CronTimetable {
  /** The expression on wall-clock time: croner in UTC knows no DST. */
  private readonly cron: Cron;
  private readonly zone: Zone;
  private readonly everyHour: boolean;

  constructor(expression: string, timezone: string | null) {
    this.cron = new Cron(expression, { paused: true, mode: '5-part', timezone: 'UTC' });
    this.zone = zoneOf(timezone);
    this.everyHour = firesEveryHour(expression);
  }

  /** Airflow's `make_naive`: the wall-clock time of an instant, as milliseconds. */
  private wall(instant: number): number {
    return instant + this.zone(instant);
  }

  /** Airflow's `make_aware` with fold=1 (the second of a repeated time; a skipped one moved on). */
  private instant(wall: number): number {
    const before = this.zone(wall - DAY_MS);
    const after = this.zone(wall + DAY_MS);
    const early = wall - before;
    const late = wall - after;
    const earlyFits = this.zone(early) === before;
    const lateFits = this.zone(late) === after;
    if (earlyFits && lateFits) return Math.max(early, late);
    if (lateFits) return late;
    if (earlyFits) return early;
    return wall - before; // in the gap: forward by its length, on the offset after it
  }

  private wallNext(wall: number): number | null {
    return this.cron.nextRun(new Date(wall))?.getTime() ?? null;
  }

  private wallPrev(wall: number): number | null {
    const [previous] = this.cron.previousRuns(1, new Date(wall));
    if (previous === undefined) return null;
    if (previous.getTime() < wall) return previous.getTime();
    return this.cron.previousRuns(2, new Date(wall))[1]?.getTime() ?? null;
  }

  /** The first cron time strictly after `current` (Airflow's `_get_next`). */
  getNext(current: number): number | null {
    const wall = this.wall(current);
    let next = this.wallNext(wall);
    if (next === null) return null;
    if (this.everyHour && next - wall < DAY_MS) return current + (next - wall);
    let result = this.instant(next);
    while (result <= current) {
      next = this.wallNext(next);
      if (next === null) return null;
      result = this.instant(next);
    }
    return result;
  }

  /** The last cron time strictly before `current` (Airflow's `_get_prev`). */
  getPrev(current: number): number | null {
    const wall = this.wall(current);
    let previous = this.wallPrev(wall);
    if (previous === null) return null;
    if (this.everyHour && wall - previous < DAY_MS) return current - (wall - previous);
    let result = this.instant(previous);
    while (result >= current) {
      previous = this.wallPrev(previous);
      if (previous === null) return null;
      result = this.instant(previous);
    }
    return result;
  }

  /** `current` when it is a cron time, else the next one (Airflow's `_align_to_next`). */
  alignToNext(current: number): number | null {
    const next = this.getNext(current);
    return next === null || this.getPrev(next) === current ? current : next;
  }

  /** `current` when it is a cron time, else the previous one (Airflow's `_align_to_prev`). */
  alignToPrev(current: number): number | null {
    const previous = this.getPrev(current);
    return previous === null || this.getNext(previous) === current ? current : previous;
  }

  /**
   * The start of the latest interval that has ended by `now`, not before `earliest` aligned to
   * the schedule (Airflow's `_skip_to_latest`, for catchup=False).
   */
  skipToLatest(earliest: number | null, now: number): number | null {
    const lastStart = this.getPrev(now);
    if (lastStart === null) return earliest === null ? null : this.alignToNext(earliest);
    const nextStart = this.getNext(lastStart);
    const latest = nextStart !== null && nextStart <= now ? lastStart : this.getPrev(lastStart);
    if (earliest === null) return latest;
    const aligned = this.alignToNext(earliest);
    if (latest === null || aligned === null) return latest ?? aligned;
    return Math.max(latest, aligned);
  }

  /**
   * Airflow's `next_dagrun_info`: after the last scheduled run's interval (ending at `lastEnd`,
   * null when there is none), from `startDate` on; without catchup never before the latest
   * complete interval.
   */
  nextInterval(
    lastEnd: number | null,
    startDate: number | null,
    catchup: boolean,
    now: number,
  ): NextDagrun | null {
    let earliest = startDate;
    if (!catchup) earliest = this.skipToLatest(earliest, now);
    else if (earliest !== null) earliest = this.alignToNext(earliest);
    let start: number | null;
    if (lastEnd === null) start = earliest;
    else {
      // A changed schedule goes on from its last time at or before the end of the last run
      // (Airflow aligns backwards: the new interval may overlap the last one, never leave a gap).
      const aligned = this.alignToPrev(lastEnd);
      start =
        earliest === null || aligned === null ? (aligned ?? earliest) : Math.max(aligned, earliest);
    }
    if (start === null) return null;
    const end = this.getNext(start);
    return end === null ? null : interval(start, end);
  }

  /** Airflow's `infer_manual_data_interval`: the last complete interval ending by `runAfter`. */
  manualInterval(runAfter: number): { start: number; end: number } | null {
    const end = this.alignToPrev(runAfter);
    const start = end === null ? null : this.getPrev(end);
    return end === null || start === null ? null : { start, end };
  }
}

function interval(start: number, end: number): NextDagrun {
  return {
    logicalDate: new Date(start),
    dataIntervalStart: new Date(start),
    dataIntervalEnd: new Date(end),
    createAfter: new Date(end),
  };
}

/** Timetables already built (a DAG's schedule is asked for on every run it creates). */
const timetables = new Map<string, CronTimetable>();
const MAX_TIMETABLES = 1000;

function timetableOf(schedule: string, timezone: string | null): CronTimetable {
  const key = `${timezone ?? ''}\u0000${schedule}`;
  let timetable = timetables.get(key);
  if (timetable === undefined) {
    timetable = new CronTimetable(schedule, timezone);
    if (timetables.size >= MAX_TIMETABLES) timetables.clear();
    timetables.set(key, timetable);
  }
  return timetable;
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
  return timetableOf(schedule, timezone).nextInterval(
    after?.getTime() ?? null,
    startDate?.getTime() ?? null,
    catchup,
    now.getTime(),
  );
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
  const timetable = timetableOf(dag.schedule, dag.timezone);
  const latest = timetable.skipToLatest(dag.startDate?.getTime() ?? null, now.getTime());
  if (latest === null || latest <= dag.dataIntervalStart.getTime()) return stored;
  const end = timetable.getNext(latest);
  return end === null ? stored : interval(latest, end);
}

/** The run after the one just created (`dag`'s current next_dagrun_*). */
export function nextDagrunAfter(dag: DueDag, now: Date): NextDagrun | null {
  return timetableOf(dag.schedule, dag.timezone).nextInterval(
    dag.dataIntervalEnd.getTime(),
    dag.startDate?.getTime() ?? null,
    dag.catchup,
    now.getTime(),
  );
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
    const inferred = timetableOf(schedule, timezone).manualInterval(logicalDate.getTime());
    if (inferred !== null) return { start: new Date(inferred.start), end: new Date(inferred.end) };
  }
  return { start: logicalDate, end: logicalDate };
}
