-- AlterTable
ALTER TABLE "dag_run" ADD COLUMN     "triggering_user_name" VARCHAR(512);
