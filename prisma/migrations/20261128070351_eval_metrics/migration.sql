-- AlterTable
ALTER TABLE "Job" ADD COLUMN "finalEvalLoss" REAL;

-- CreateTable
CREATE TABLE "EvalMetric" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "jobId" INTEGER NOT NULL,
    "step" INTEGER NOT NULL,
    "epoch" REAL NOT NULL,
    "evalLoss" REAL NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "EvalMetric_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "EvalMetric_jobId_step_key" ON "EvalMetric"("jobId", "step");
