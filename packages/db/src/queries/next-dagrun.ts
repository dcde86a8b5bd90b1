/**
 * The DAG's next scheduled run (Airflow's `dag.next_dagrun_*` columns): set by the DAG file
 * processor when a DAG is new or its schedule changed, and advanced by the scheduler each time it
 * creates a scheduled run.
 */
import type { NextDagrun } from '@dagbag/dagbag';
import type { Db } from './scheduler/types.ts';

export type { NextDagrun };

/** Sets the DAG's `next_dagrun_*`; null clears them (no further run is due). */
export function setNextDagrun(db: Db, dagId: string, next: NextDagrun | null): Promise<number> {
  return db.$executeRaw`
    UPDATE dag SET next_dagrun_logical_date = ${next?.logicalDate ?? null},
                   next_dagrun_data_interval_start = ${next?.dataIntervalStart ?? null},
                   next_dagrun_data_interval_end = ${next?.dataIntervalEnd ?? null},
                   next_dagrun_create_after = ${next?.createAfter ?? null}
    WHERE dag_id = ${dagId}`;
}
