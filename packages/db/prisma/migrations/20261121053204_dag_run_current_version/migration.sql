-- AlterTable
ALTER TABLE "dag_run" ADD COLUMN     "current_dag_version_id" UUID;
