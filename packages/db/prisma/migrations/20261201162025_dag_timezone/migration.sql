-- AlterTable
ALTER TABLE "dag" ADD COLUMN     "timezone" TEXT;
