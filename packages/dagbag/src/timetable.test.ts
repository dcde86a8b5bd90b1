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
