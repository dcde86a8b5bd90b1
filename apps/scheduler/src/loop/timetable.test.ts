import { describe, expect, it } from 'vitest';
import { firstDagrun, nextDagrunAfter } from './timetable.ts';

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

  it('move to the following interval after a run is created', () => {
    const next = nextDagrunAfter(
      {
        dagId: 'd',
        schedule: '@hourly',
        startDate: null,
        catchup: false,
        logicalDate: at('2026-03-01T09:00:00Z'),
        dataIntervalStart: at('2026-03-01T09:00:00Z'),
        dataIntervalEnd: at('2026-03-01T10:00:00Z'),
        createAfter: at('2026-03-01T10:00:00Z'),
      },
      at('2026-03-01T10:00:01Z'),
    );
    expect(next?.logicalDate).toEqual(at('2026-03-01T10:00:00Z'));
  });

  it('skip missed intervals without catchup', () => {
    const next = nextDagrunAfter(
      {
        dagId: 'd',
        schedule: '@hourly',
        startDate: null,
        catchup: false,
        logicalDate: at('2026-03-01T09:00:00Z'),
        dataIntervalStart: at('2026-03-01T09:00:00Z'),
        dataIntervalEnd: at('2026-03-01T10:00:00Z'),
        createAfter: at('2026-03-01T10:00:00Z'),
      },
      at('2026-03-01T15:30:00Z'),
    );
    expect(next?.logicalDate).toEqual(at('2026-03-01T14:00:00Z'));
  });
});
