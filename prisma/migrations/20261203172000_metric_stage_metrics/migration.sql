-- AlterTable
ALTER TABLE "Metric" ADD COLUMN "stageMetrics" TEXT;
