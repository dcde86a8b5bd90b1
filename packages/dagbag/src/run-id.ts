/**
 * The one rule for run ids, checked where they enter (the API) and where they become a log path
 * (the executor): Airflow's default `allowed_run_id_pattern`, its run_id column length, and never
 * a name the file system reads as a folder (`.`, `..`).
 */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_.~:+-]+$/;
export const MAX_RUN_ID_LENGTH = 250;

/** Why a run id is refused, in words a client can act on; undefined when it is fine. */
export function runIdProblem(runId: string): string | undefined {
  if (runId.length === 0 || runId.length > MAX_RUN_ID_LENGTH || !RUN_ID_PATTERN.test(runId))
    return `The run_id must be 1 to ${MAX_RUN_ID_LENGTH} characters matching the pattern '${RUN_ID_PATTERN.source}' (letters, digits and _ . ~ : + -)`;
  if (runId === '.' || runId === '..') return `The run_id must not be '.' or '..'`;
  return undefined;
}
