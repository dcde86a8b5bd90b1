-- task_instance newest first by start_date, as listings order it: `start_date DESC NULLS LAST`
-- (Airflow's order: unstarted instances last in either direction). The default order of Airflow's
-- UI for task instances of every DAG and run (GET /dags/~/dagRuns/~/taskInstances?order_by=
-- -start_date&order_by=-run_after) sorted every instance for a page of 50: 9-12 s on 4.5 million
-- (packages/db/bench). A plain index on start_date cannot serve it (read backwards it gives
-- DESC NULLS FIRST), and a Prisma datamodel cannot say NULLS LAST: written by hand, and named in
-- HAND_WRITTEN_INDEXES (src/migrate/drift.ts) so the drift check does not look for it in
-- schema.prisma. Building it on 4.5 million rows takes seconds, during which task_instance takes
-- no writes.
CREATE INDEX "task_instance_start_date_desc_idx" ON "task_instance" ("start_date" DESC NULLS LAST);
