-- AlterTable
ALTER TABLE "task_instance" ADD COLUMN     "note" TEXT;

-- CreateTable
CREATE TABLE "task_instance_history" (
    "id" SERIAL NOT NULL,
    "task_instance_id" UUID NOT NULL,
    "dag_id" VARCHAR(250) NOT NULL,
    "run_id" VARCHAR(250) NOT NULL,
    "task_id" VARCHAR(250) NOT NULL,
    "map_index" INTEGER NOT NULL DEFAULT -1,
    "try_number" INTEGER NOT NULL,
    "max_tries" INTEGER NOT NULL,
    "state" VARCHAR(20),
    "operator" VARCHAR(50),
    "start_date" TIMESTAMPTZ(6),
    "end_date" TIMESTAMPTZ(6),
    "duration" DOUBLE PRECISION,
    "hostname" VARCHAR(1000),
    "pid" INTEGER,
    "queued_dttm" TIMESTAMPTZ(6),
    "scheduled_dttm" TIMESTAMPTZ(6),
    "dag_version_id" UUID,
    "recorded_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_instance_history_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "task_instance_history_dag_id_run_id_task_id_map_index_idx" ON "task_instance_history"("dag_id", "run_id", "task_id", "map_index");

-- CreateIndex
CREATE UNIQUE INDEX "task_instance_history_task_instance_id_try_number_key" ON "task_instance_history"("task_instance_id", "try_number");

-- Airflow keeps (dag_id, logical_date) unique. A database that already holds two runs of one DAG
-- for one logical date cannot take the index: stop naming the runs to fix, not with a bare error.
DO $$
DECLARE duplicate record;
BEGIN
  SELECT dag_id, logical_date, string_agg(run_id, ', ' ORDER BY id) AS run_ids INTO duplicate
  FROM dag_run WHERE logical_date IS NOT NULL
  GROUP BY dag_id, logical_date HAVING count(*) > 1 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'DAG % has several runs for logical_date % (%): delete all but one (DELETE /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}), then migrate again',
      duplicate.dag_id, duplicate.logical_date, duplicate.run_ids;
  END IF;
END
$$;

-- CreateIndex
CREATE UNIQUE INDEX "dag_run_dag_id_logical_date_key" ON "dag_run"("dag_id", "logical_date");

-- AddForeignKey
ALTER TABLE "task_instance_history" ADD CONSTRAINT "task_instance_history_task_instance_id_fkey" FOREIGN KEY ("task_instance_id") REFERENCES "task_instance"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A try leaves task_instance in one of two ways, and this trigger archives it in the very statement
-- that does so, whoever runs it (scheduler, heartbeat timeout, API):
--   * it ends as up_for_retry: the try is recorded as it ended (state failed);
--   * the instance is cleared (state becomes NULL) while holding a try: the try is recorded with
--     its state then, failed if it had not finished (as Airflow's TaskInstanceHistory.record_ti).
-- Each try is recorded once (the first of the two wins). The current try is the task_instance row.
CREATE FUNCTION task_instance_history_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source task_instance;
BEGIN
  IF NEW.state = 'up_for_retry' AND NEW.try_number >= 1 THEN
    source := NEW;
  ELSIF NEW.state IS NULL AND OLD.state IS NOT NULL AND OLD.try_number >= 1 THEN
    source := OLD;
  ELSE
    RETURN NULL;
  END IF;
  INSERT INTO task_instance_history (task_instance_id, dag_id, run_id, task_id, map_index, try_number,
    max_tries, state, operator, start_date, end_date, duration, hostname, pid, queued_dttm,
    scheduled_dttm, dag_version_id)
  VALUES (source.id, source.dag_id, source.run_id, source.task_id, source.map_index, source.try_number,
    source.max_tries,
    CASE WHEN source.state IN ('success', 'failed', 'skipped', 'upstream_failed', 'removed')
         THEN source.state ELSE 'failed' END,
    source.operator, source.start_date, COALESCE(source.end_date, now()),
    COALESCE(source.duration, EXTRACT(EPOCH FROM (COALESCE(source.end_date, now()) - source.start_date))),
    source.hostname, source.pid, source.queued_dttm, source.scheduled_dttm, source.dag_version_id)
  ON CONFLICT (task_instance_id, try_number) DO NOTHING;
  RETURN NULL;
END
$$;

CREATE TRIGGER task_instance_history_record
  AFTER UPDATE OF state ON task_instance
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION task_instance_history_record();
