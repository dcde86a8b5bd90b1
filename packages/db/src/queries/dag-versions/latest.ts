/**
 * Which version is "the latest" of a DAG, and which one a run uses: SQL fragments every query that
 * needs them embeds (one scalar subquery each), so the rule has one spelling.
 */
import { Prisma } from '../../generated/prisma/client.ts';

/** A DAG id given as a bound value, or as a column of the surrounding query. */
export type DagIdRef = { value: string } | { column: string };

/** SQL (scalar): the id of the DAG's newest version (highest version_number); null when none. */
export function latestVersionIdSql(dagId: DagIdRef): Prisma.Sql {
  const id = 'column' in dagId ? Prisma.raw(dagId.column) : dagId.value;
  return Prisma.sql`(SELECT lv.id FROM dag_version lv WHERE lv.dag_id = ${id}
                     ORDER BY lv.version_number DESC LIMIT 1)`;
}

/**
 * SQL (scalar): the version the run `alias` (a `dag_run` row of the surrounding query) uses now:
 * the one the scheduler moved it to when its DAG changed, else the one it was created with, else
 * (its version was deleted) its DAG's latest, as Airflow's DBDagBag does.
 */
export function runVersionIdSql(alias: string): Prisma.Sql {
  return Prisma.sql`COALESCE(${Prisma.raw(`${alias}.current_dag_version_id`)}, ${Prisma.raw(`${alias}.created_dag_version_id`)},
                            ${latestVersionIdSql({ column: `${alias}.dag_id` })})`;
}
