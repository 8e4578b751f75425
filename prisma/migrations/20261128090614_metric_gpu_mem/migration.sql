-- AlterTable
ALTER TABLE "Metric" ADD COLUMN "gpuMemGib" REAL;
