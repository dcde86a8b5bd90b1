import { describe, expect, it } from 'vitest';
import { scheduleTimezone } from './document.ts';
import { firstDagrun, manualDataInterval, nextDagrunAfter } from './timetable.ts';

const at = (iso: string) => new Date(iso);

describe('timetables', () => {
  it('give a manual DAG no run', () => {
    expect(
      firstDagrun(null, at('2026-01-01T00:00:00Z'), false, at('2026-03-01T10:30:00Z')),
    ).toBeNull();
  });

  it('start a DAG without catchup at the latest complete interval', () => {
    expect(
      firstDagrun('@daily', at('2026-01-01T00:00:00Z'), false, at('2026-03-01T10:30:00Z')),
    ).toEqual({
      logicalDate: at('2026-02-28T00:00:00Z'),
      dataIntervalStart: at('2026-02-28T00:00:00Z'),
      dataIntervalEnd: at('2026-03-01T00:00:00Z'),
      createAfter: at('2026-03-01T00:00:00Z'),
    });
  });

  it('start a DAG with catchup at its start_date', () => {
    expect(
      firstDagrun('0 6 * * *', at('2026-01-01T00:00:00Z'), true, at('2026-03-01T10:30:00Z'))
        ?.logicalDate,
    ).toEqual(at('2026-01-01T06:00:00Z'));
  });

  it('wait for the first interval of a DAG whose start_date is in the future', () => {
    expect(
      firstDagrun('@hourly', at('2026-05-01T00:00:00Z'), false, at('2026-03-01T10:30:00Z'))
        ?.createAfter,
    ).toEqual(at('2026-05-01T01:00:00Z'));
  });

  /** The 09:00 run of an hourly DAG without catchup, created at 10:00. */
  const hourlyRunAtNine = {
    schedule: '@hourly',
    startDate: null,
    timezone: null,
    catchup: false,
    logicalDate: at('2026-03-01T09:00:00Z'),
    dataIntervalStart: at('2026-03-01T09:00:00Z'),
    dataIntervalEnd: at('2026-03-01T10:00:00Z'),
    createAfter: at('2026-03-01T10:00:00Z'),
  };

  it('move to the following interval after a run is created', () => {
    const next = nextDagrunAfter(hourlyRunAtNine, at('2026-03-01T10:00:01Z'));
    expect(next?.logicalDate).toEqual(at('2026-03-01T10:00:00Z'));
  });

  it('skip missed intervals without catchup', () => {
    const next = nextDagrunAfter(hourlyRunAtNine, at('2026-03-01T15:30:00Z'));
    expect(next?.logicalDate).toEqual(at('2026-03-01T14:00:00Z'));
  });
});

describe('schedules in a time zone', () => {
  it("follow the DAG's IANA time zone across a DST change", () => {
    // 09:00 in New York: 14:00Z before 8 March 2026 (EST), 13:00Z from then on (EDT).
    const first = firstDagrun(
      '0 9 * * *',
      at('2026-03-06T14:00:00Z'),
      true,
      at('2026-03-20T00:00:00Z'),
      null,
      'America/New_York',
    )!;
    expect(first.logicalDate).toEqual(at('2026-03-06T14:00:00Z'));
    const starts = [first.logicalDate];
    let dag = {
      dagId: 'd',
      schedule: '0 9 * * *',
      startDate: at('2026-03-06T14:00:00Z'),
      timezone: 'America/New_York',
      catchup: true,
      ...first,
    };
    for (let i = 0; i < 3; i++) {
      const next = nextDagrunAfter(dag, at('2026-03-20T00:00:00Z'))!;
      starts.push(next.logicalDate);
      dag = { ...dag, ...next };
    }
    expect(starts.map((d) => d.toISOString())).toEqual([
      '2026-03-06T14:00:00.000Z',
      '2026-03-07T14:00:00.000Z',
      '2026-03-08T13:00:00.000Z',
      '2026-03-09T13:00:00.000Z',
    ]);
  });

  it("take start_date's offset when the DAG names no time zone", () => {
    expect(scheduleTimezone({ start_date: '2026-01-01T00:00:00+05:30' })).toBe('+05:30');
    expect(scheduleTimezone({ start_date: '2026-01-01T00:00:00Z' })).toBeNull();
    expect(
      scheduleTimezone({ timezone: 'Europe/Amsterdam', start_date: '2026-01-01T00:00:00+05:30' }),
    ).toBe('Europe/Amsterdam');
    const first = firstDagrun(
      '0 0 * * *',
      at('2025-12-31T18:30:00Z'),
      true,
      at('2026-01-05T00:00:00Z'),
      null,
      '+05:30',
    )!;
    expect([first.dataIntervalStart, first.dataIntervalEnd]).toEqual([
      at('2025-12-31T18:30:00Z'),
      at('2026-01-01T18:30:00Z'),
    ]);
  });

  describe('for a manual run with a logical date and no data interval', () => {
    it('give a DAG without schedule exactly its logical date', () => {
      const logicalDate = at('2026-03-25T10:30:00Z');
      expect(manualDataInterval(null, null, logicalDate)).toEqual({
        start: logicalDate,
        end: logicalDate,
      });
    });

    it("give a cron DAG the last complete interval, as Airflow's CronDataIntervalTimetable", () => {
      expect(manualDataInterval('@daily', null, at('2026-03-25T10:30:00Z'))).toEqual({
        start: at('2026-03-24T00:00:00Z'),
        end: at('2026-03-25T00:00:00Z'),
      });
    });

    it('end the interval at the logical date when it is on the schedule', () => {
      expect(manualDataInterval('0 * * * *', null, at('2026-03-25T10:00:00Z'))).toEqual({
        start: at('2026-03-25T09:00:00Z'),
        end: at('2026-03-25T10:00:00Z'),
      });
    });

    it("read the cron expression in the DAG's time zone", () => {
      // Midnight in Paris is 23:00 UTC in winter.
      expect(manualDataInterval('@daily', 'Europe/Paris', at('2026-01-10T12:00:00Z'))).toEqual({
        start: at('2026-01-08T23:00:00Z'),
        end: at('2026-01-09T23:00:00Z'),
      });
    });
  });
});

/**
 * Daylight saving time as Airflow's CronDataIntervalTimetable handles it (its `_cron.py`: the cron
 * expression read on the wall clock, then `make_aware` with fold=1; crons that fire every hour
 * step by the wall-clock difference in real time). Europe/Berlin in 2026: clocks go from 02:00
 * CET to 03:00 CEST on 29 March (01:00Z) and back from 03:00 CEST to 02:00 CET on 25 October
 * (01:00Z), so 02:00-02:59 does not exist on the first day and happens twice on the second.
 */
describe('schedules across daylight saving time, as Airflow', () => {
  const far = at('2027-01-01T00:00:00Z');

  /** The first `count` intervals of a catchup DAG, as [start, end] ISO strings. */
  function intervals(schedule: string, timezone: string, startDate: string, count: number) {
    let next = firstDagrun(schedule, at(startDate), true, far, null, timezone);
    const out: [string, string][] = [];
    while (next !== null && out.length < count) {
      out.push([next.dataIntervalStart.toISOString(), next.dataIntervalEnd.toISOString()]);
      next = nextDagrunAfter(
        { schedule, startDate: at(startDate), timezone, catchup: true, ...next },
        far,
      );
    }
    return out;
  }

  it('run a 02:30 daily cron at 03:30 CEST on the day 02:30 does not exist (the gap moves it forward by its length)', () => {
    expect(intervals('30 2 * * *', 'Europe/Berlin', '2026-03-27T00:00:00+01:00', 3)).toEqual([
      ['2026-03-27T01:30:00.000Z', '2026-03-28T01:30:00.000Z'],
      ['2026-03-28T01:30:00.000Z', '2026-03-29T01:30:00.000Z'],
      ['2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z'],
    ]);
  });

  it('run a 02:30 daily cron once on the day 02:30 happens twice, at the second one (fold=1)', () => {
    expect(intervals('30 2 * * *', 'Europe/Berlin', '2026-10-24T00:00:00+02:00', 2)).toEqual([
      ['2026-10-24T00:30:00.000Z', '2026-10-25T01:30:00.000Z'],
      ['2026-10-25T01:30:00.000Z', '2026-10-26T01:30:00.000Z'],
    ]);
  });

  it('run a 01:30 daily cron at 01:30 local on the fall-back day, where 01:30 happens once in Berlin', () => {
    expect(intervals('30 1 * * *', 'Europe/Berlin', '2026-10-24T00:00:00+02:00', 2)).toEqual([
      ['2026-10-23T23:30:00.000Z', '2026-10-24T23:30:00.000Z'],
      ['2026-10-24T23:30:00.000Z', '2026-10-26T00:30:00.000Z'],
    ]);
  });

  it('run a 01:30 daily cron at the second 01:30 where it happens twice (New York, 1 November 2026)', () => {
    expect(intervals('30 1 * * *', 'America/New_York', '2026-10-31T00:00:00-04:00', 2)).toEqual([
      ['2026-10-31T05:30:00.000Z', '2026-11-01T06:30:00.000Z'],
      ['2026-11-01T06:30:00.000Z', '2026-11-02T06:30:00.000Z'],
    ]);
  });

  it('keep an hourly cron one real hour apart through both changes', () => {
    const hours = (from: string) =>
      intervals('0 * * * *', 'Europe/Berlin', from, 3).map(([start]) => start);
    expect(hours('2026-03-29T00:00:00Z')).toEqual([
      '2026-03-29T00:00:00.000Z', // 01:00 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST
      '2026-03-29T02:00:00.000Z',
    ]);
    expect(hours('2026-10-25T00:00:00Z')).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ]);
  });

  it('move an every-two-hours cron out of the gap and run it once in the repeated hour', () => {
    const starts = (from: string) =>
      intervals('0 */2 * * *', 'Europe/Berlin', from, 3).map(([start]) => start);
    expect(starts('2026-03-28T23:00:00Z')).toEqual([
      '2026-03-28T23:00:00.000Z', // 00:00 CET
      '2026-03-29T01:00:00.000Z', // 02:00 does not exist: 03:00 CEST
      '2026-03-29T02:00:00.000Z', // 04:00 CEST
    ]);
    expect(starts('2026-10-24T22:00:00Z')).toEqual([
      '2026-10-24T22:00:00.000Z', // 00:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET, the second 02:00
      '2026-10-25T03:00:00.000Z', // 04:00 CET
    ]);
  });

  // Airflow's own cases (tests/unit/timetables/test_interval_timetable.py).
  it("match Airflow's Zurich cases: 02:00 entering and leaving DST, and */30 through the fold", () => {
    expect(intervals('0 2 * * *', 'Europe/Zurich', '2023-03-24T00:00:00Z', 3)).toEqual([
      ['2023-03-24T01:00:00.000Z', '2023-03-25T01:00:00.000Z'],
      ['2023-03-25T01:00:00.000Z', '2023-03-26T01:00:00.000Z'],
      ['2023-03-26T01:00:00.000Z', '2023-03-27T00:00:00.000Z'],
    ]);
    expect(intervals('0 2 * * *', 'Europe/Zurich', '2023-10-27T00:00:00Z', 3)).toEqual([
      ['2023-10-27T00:00:00.000Z', '2023-10-28T00:00:00.000Z'],
      ['2023-10-28T00:00:00.000Z', '2023-10-29T01:00:00.000Z'],
      ['2023-10-29T01:00:00.000Z', '2023-10-30T01:00:00.000Z'],
    ]);
    expect(
      intervals('*/30 * * * *', 'Europe/Zurich', '2023-10-28T23:30:00Z', 5).map(([, end]) => end),
    ).toEqual([
      '2023-10-29T00:00:00.000Z',
      '2023-10-29T00:30:00.000Z',
      '2023-10-29T01:00:00.000Z',
      '2023-10-29T01:30:00.000Z',
      '2023-10-29T02:00:00.000Z',
    ]);
  });

  it("match Airflow's manual intervals next to a change: never empty, never ending after the logical date", () => {
    const manual = (schedule: string, timezone: string, logicalDate: string) => {
      const { start, end } = manualDataInterval(schedule, timezone, at(logicalDate));
      return [start.toISOString(), end.toISOString()];
    };
    expect(manual('0 2 * * *', 'America/New_York', '2024-03-10T07:30:00Z')).toEqual([
      '2024-03-09T07:00:00.000Z',
      '2024-03-10T07:00:00.000Z',
    ]);
    expect(manual('0 2 * * *', 'Europe/Zurich', '2023-03-26T01:30:00Z')).toEqual([
      '2023-03-25T01:00:00.000Z',
      '2023-03-26T01:00:00.000Z',
    ]);
    expect(manual('0 2 * * *', 'Australia/Lord_Howe', '2024-10-05T15:30:00Z')).toEqual([
      '2024-10-04T15:30:00.000Z',
      '2024-10-05T15:30:00.000Z',
    ]);
    // The 01:00 of 3 November is its second one (06:00Z): at 05:30Z it has not happened yet.
    expect(manual('0 1 * * *', 'America/New_York', '2024-11-03T05:30:00Z')).toEqual([
      '2024-11-01T05:00:00.000Z',
      '2024-11-02T05:00:00.000Z',
    ]);
  });

  it("without catchup, start at Airflow's latest complete interval next to a change", () => {
    const first = (now: string) => {
      const next = firstDagrun(
        '0 2 * * *',
        at('2024-01-01T00:00:00Z'),
        false,
        at(now),
        null,
        'America/New_York',
      )!;
      return [next.dataIntervalStart.toISOString(), next.dataIntervalEnd.toISOString()];
    };
    expect(first('2024-03-10T07:30:00Z')).toEqual([
      '2024-03-09T07:00:00.000Z',
      '2024-03-10T07:00:00.000Z',
    ]);
    expect(first('2024-03-10T07:00:00Z')).toEqual([
      '2024-03-09T07:00:00.000Z',
      '2024-03-10T07:00:00.000Z',
    ]);
  });
});

describe("a changed schedule's first interval, as Airflow", () => {
  it('starts at the last cron time at or before the end of the last run, overlapping it', () => {
    // Airflow's test_cron_next_dagrun_info_alignment ("changed"): the last run covered 01:00 to
    // 01:00; @daily goes on with 00:00 to 00:00, not with a gap until the next midnight.
    const next = firstDagrun(
      '@daily',
      at('2022-01-01T00:00:00Z'),
      true,
      at('2022-08-10T00:00:00Z'),
      at('2022-08-08T01:00:00Z'),
    )!;
    expect([next.dataIntervalStart, next.dataIntervalEnd]).toEqual([
      at('2022-08-08T00:00:00Z'),
      at('2022-08-09T00:00:00Z'),
    ]);
  });

  it('with or without catchup, when the new interval has ended (test_new_schedule_next_info_starts_at_new_time)', () => {
    for (const catchup of [true, false]) {
      const next = firstDagrun(
        '30 16 * * *',
        at('2021-09-04T00:00:00Z'),
        catchup,
        at('2021-09-07T00:00:00Z'),
        at('2021-09-07T00:00:00Z'),
      )!;
      expect([next.dataIntervalStart, next.dataIntervalEnd]).toEqual([
        at('2021-09-06T16:30:00Z'),
        at('2021-09-07T16:30:00Z'),
      ]);
    }
  });
});
