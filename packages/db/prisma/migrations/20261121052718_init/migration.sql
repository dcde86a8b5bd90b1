-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "dag" (
    "dag_id" VARCHAR(250) NOT NULL,
    "is_paused" BOOLEAN NOT NULL DEFAULT false,
    "is_stale" BOOLEAN NOT NULL DEFAULT false,
    "last_parsed_time" TIMESTAMPTZ(6),
    "fileloc" TEXT,
    "relative_fileloc" TEXT,
    "description" TEXT,
    "timetable_summary" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "max_active_runs" INTEGER NOT NULL DEFAULT 16,
    "max_active_tasks" INTEGER NOT NULL DEFAULT 16,
    "catchup" BOOLEAN NOT NULL DEFAULT false,
    "start_date" TIMESTAMPTZ(6),
    "next_dagrun_logical_date" TIMESTAMPTZ(6),
    "next_dagrun_data_interval_start" TIMESTAMPTZ(6),
    "next_dagrun_data_interval_end" TIMESTAMPTZ(6),
    "next_dagrun_create_after" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dag_pkey" PRIMARY KEY ("dag_id")
);

-- CreateTable
CREATE TABLE "dag_version" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "dag_id" VARCHAR(250) NOT NULL,
    "version_number" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dag_version_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "serialized_dag" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "dag_version_id" UUID NOT NULL,
    "dag_id" VARCHAR(250) NOT NULL,
    "data" JSONB NOT NULL,
    "dag_hash" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "serialized_dag_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "dag_run" (
    "id" SERIAL NOT NULL,
    "dag_id" VARCHAR(250) NOT NULL,
    "run_id" VARCHAR(250) NOT NULL,
    "state" VARCHAR(50) NOT NULL,
    "run_type" VARCHAR(50) NOT NULL,
    "logical_date" TIMESTAMPTZ(6),
    "run_after" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "data_interval_start" TIMESTAMPTZ(6),
    "data_interval_end" TIMESTAMPTZ(6),
    "queued_at" TIMESTAMPTZ(6),
    "start_date" TIMESTAMPTZ(6),
    "end_date" TIMESTAMPTZ(6),
    "conf" JSONB NOT NULL DEFAULT '{}',
    "note" TEXT,
    "triggered_by" VARCHAR(50),
    "created_dag_version_id" UUID,
    "last_scheduling_decision" TIMESTAMPTZ(6),
    "clear_number" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dag_run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "task_instance" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "dag_id" VARCHAR(250) NOT NULL,
    "run_id" VARCHAR(250) NOT NULL,
    "task_id" VARCHAR(250) NOT NULL,
    "map_index" INTEGER NOT NULL DEFAULT -1,
    "dag_version_id" UUID,
    "state" VARCHAR(20),
    "try_number" INTEGER NOT NULL DEFAULT 0,
    "max_tries" INTEGER NOT NULL DEFAULT 0,
    "operator" VARCHAR(50),
    "start_date" TIMESTAMPTZ(6),
    "end_date" TIMESTAMPTZ(6),
    "duration" DOUBLE PRECISION,
    "hostname" VARCHAR(1000),
    "pid" INTEGER,
    "last_heartbeat_at" TIMESTAMPTZ(6),
    "queued_dttm" TIMESTAMPTZ(6),
    "scheduled_dttm" TIMESTAMPTZ(6),
    "next_retry_at" TIMESTAMPTZ(6),
    "queued_by_job_id" INTEGER,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_instance_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "import_error" (
    "id" SERIAL NOT NULL,
    "filename" TEXT NOT NULL,
    "bundle_name" TEXT,
    "stacktrace" TEXT NOT NULL,
    "timestamp" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "import_error_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job" (
    "id" SERIAL NOT NULL,
    "job_type" VARCHAR(30) NOT NULL,
    "state" VARCHAR(20) NOT NULL,
    "hostname" VARCHAR(1000),
    "pid" INTEGER,
    "start_date" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "end_date" TIMESTAMPTZ(6),
    "latest_heartbeat" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "dag_is_stale_is_paused_next_dagrun_create_after_idx" ON "dag"("is_stale", "is_paused", "next_dagrun_create_after");

-- CreateIndex
CREATE UNIQUE INDEX "dag_version_dag_id_version_number_key" ON "dag_version"("dag_id", "version_number");

-- CreateIndex
CREATE UNIQUE INDEX "serialized_dag_dag_version_id_key" ON "serialized_dag"("dag_version_id");

-- CreateIndex
CREATE INDEX "serialized_dag_dag_id_idx" ON "serialized_dag"("dag_id");

-- CreateIndex
CREATE INDEX "dag_run_state_last_scheduling_decision_idx" ON "dag_run"("state", "last_scheduling_decision");

-- CreateIndex
CREATE INDEX "dag_run_dag_id_state_idx" ON "dag_run"("dag_id", "state");

-- CreateIndex
CREATE INDEX "dag_run_created_dag_version_id_idx" ON "dag_run"("created_dag_version_id");

-- CreateIndex
CREATE UNIQUE INDEX "dag_run_dag_id_run_id_key" ON "dag_run"("dag_id", "run_id");

-- CreateIndex
CREATE INDEX "task_instance_state_last_heartbeat_at_idx" ON "task_instance"("state", "last_heartbeat_at");

-- CreateIndex
CREATE INDEX "task_instance_dag_version_id_state_idx" ON "task_instance"("dag_version_id", "state");

-- CreateIndex
CREATE UNIQUE INDEX "task_instance_dag_id_run_id_task_id_map_index_key" ON "task_instance"("dag_id", "run_id", "task_id", "map_index");

-- CreateIndex
CREATE UNIQUE INDEX "import_error_filename_key" ON "import_error"("filename");

-- CreateIndex
CREATE INDEX "job_job_type_state_latest_heartbeat_idx" ON "job"("job_type", "state", "latest_heartbeat");

-- AddForeignKey
ALTER TABLE "dag_version" ADD CONSTRAINT "dag_version_dag_id_fkey" FOREIGN KEY ("dag_id") REFERENCES "dag"("dag_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "serialized_dag" ADD CONSTRAINT "serialized_dag_dag_version_id_fkey" FOREIGN KEY ("dag_version_id") REFERENCES "dag_version"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "dag_run" ADD CONSTRAINT "dag_run_dag_id_fkey" FOREIGN KEY ("dag_id") REFERENCES "dag"("dag_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "dag_run" ADD CONSTRAINT "dag_run_created_dag_version_id_fkey" FOREIGN KEY ("created_dag_version_id") REFERENCES "dag_version"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_instance" ADD CONSTRAINT "task_instance_dag_id_run_id_fkey" FOREIGN KEY ("dag_id", "run_id") REFERENCES "dag_run"("dag_id", "run_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_instance" ADD CONSTRAINT "task_instance_dag_version_id_fkey" FOREIGN KEY ("dag_version_id") REFERENCES "dag_version"("id") ON DELETE SET NULL ON UPDATE CASCADE;
