-- dag_run by run_after, for what a year of runs made slow (packages/db/bench, 1,000,000 runs):
-- * (dag_id, run_after): each DAG's latest run, read once per DAG by GET /dags ordered or filtered
--   by its last run (last_run_state, last_run_start_date, last_dag_run_state): 2.5-3 s, every run
--   of every DAG read and sorted; and one DAG's runs by run_after.
-- * (run_after): the runs of every DAG newest first (GET /dags/~/dagRuns?order_by=-run_after, the
--   default of Airflow's UI): every run sorted for a page of 50.
-- Building them on 1,000,000 runs takes seconds, during which dag_run takes no writes.

-- CreateIndex
CREATE INDEX "dag_run_dag_id_run_after_idx" ON "dag_run"("dag_id", "run_after");

-- CreateIndex
CREATE INDEX "dag_run_run_after_idx" ON "dag_run"("run_after");
