-- AlterTable
ALTER TABLE "Job" ADD COLUMN "result" TEXT;
