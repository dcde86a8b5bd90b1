-- CreateTable
CREATE TABLE "dag_code" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "dag_version_id" UUID NOT NULL,
    "dag_id" VARCHAR(250) NOT NULL,
    "fileloc" TEXT NOT NULL,
    "source_code" TEXT NOT NULL,
    "source_code_hash" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dag_code_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "log" (
    "id" SERIAL NOT NULL,
    "dttm" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dag_id" VARCHAR(250),
    "task_id" VARCHAR(250),
    "map_index" INTEGER,
    "run_id" VARCHAR(250),
    "try_number" INTEGER,
    "logical_date" TIMESTAMPTZ(6),
    "event" VARCHAR(60) NOT NULL,
    "owner" VARCHAR(500),
    "extra" TEXT,

    CONSTRAINT "log_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "dag_priority_parsing_request" (
    "id" SERIAL NOT NULL,
    "fileloc" TEXT NOT NULL,
    "requested_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dag_priority_parsing_request_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "dag_code_dag_version_id_key" ON "dag_code"("dag_version_id");

-- CreateIndex
CREATE INDEX "log_dttm_idx" ON "log"("dttm");

-- CreateIndex
CREATE INDEX "log_dag_id_run_id_task_id_idx" ON "log"("dag_id", "run_id", "task_id");

-- CreateIndex
CREATE INDEX "log_event_idx" ON "log"("event");

-- CreateIndex
CREATE UNIQUE INDEX "dag_priority_parsing_request_fileloc_key" ON "dag_priority_parsing_request"("fileloc");

-- AddForeignKey
ALTER TABLE "dag_code" ADD CONSTRAINT "dag_code_dag_version_id_fkey" FOREIGN KEY ("dag_version_id") REFERENCES "dag_version"("id") ON DELETE CASCADE ON UPDATE CASCADE;
