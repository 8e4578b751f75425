-- CreateTable
CREATE TABLE "Job" (
    "id" SERIAL NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'train',
    "name" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "config" TEXT NOT NULL,
    "modelPath" TEXT NOT NULL,
    "datasets" TEXT NOT NULL,
    "outputDir" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "workerId" TEXT,
    "leaseExpiresAt" DOUBLE PRECISION,
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    "step" INTEGER NOT NULL DEFAULT 0,
    "totalSteps" INTEGER,
    "error" TEXT,
    "logTail" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "finalLoss" DOUBLE PRECISION,
    "finalEvalLoss" DOUBLE PRECISION,
    "numGpus" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Metric" (
    "id" SERIAL NOT NULL,
    "jobId" INTEGER NOT NULL,
    "step" INTEGER NOT NULL,
    "epoch" DOUBLE PRECISION NOT NULL,
    "loss" DOUBLE PRECISION NOT NULL,
    "lr" DOUBLE PRECISION NOT NULL,
    "gradNorm" DOUBLE PRECISION,
    "tokens" INTEGER,
    "tokensPerSec" DOUBLE PRECISION,
    "elapsedS" DOUBLE PRECISION,
    "gpuMemGib" DOUBLE PRECISION,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Metric_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "EvalMetric" (
    "id" SERIAL NOT NULL,
    "jobId" INTEGER NOT NULL,
    "step" INTEGER NOT NULL,
    "epoch" DOUBLE PRECISION NOT NULL,
    "evalLoss" DOUBLE PRECISION NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "EvalMetric_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Worker" (
    "id" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "lastSeenAt" DOUBLE PRECISION NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "currentJobId" INTEGER,
    "gpus" TEXT NOT NULL DEFAULT '[]',

    CONSTRAINT "Worker_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Job_status_id_idx" ON "Job"("status", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Metric_jobId_step_key" ON "Metric"("jobId", "step");

-- CreateIndex
CREATE UNIQUE INDEX "EvalMetric_jobId_step_key" ON "EvalMetric"("jobId", "step");

-- AddForeignKey
ALTER TABLE "Metric" ADD CONSTRAINT "Metric_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "EvalMetric" ADD CONSTRAINT "EvalMetric_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Worker wake-ups (PostgreSQL only, not part of the Prisma schema; the engine leaves functions
-- and triggers alone): every job that becomes queued (new, handed back, retried) is announced
-- on the channel tuneboard_jobs, which idle workers LISTEN on (lib/queue/wakeup.ts).
CREATE FUNCTION "tuneboard_notify_job"() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('tuneboard_jobs', NEW.id::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "Job_notify_queued" AFTER INSERT OR UPDATE OF status ON "Job"
  FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION "tuneboard_notify_job"();
