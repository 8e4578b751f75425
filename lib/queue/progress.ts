// A worker records one training step: the metric row (idempotent by (jobId, step): a replayed
// step overwrites its row) and the job's step/totalSteps — only while it holds the job's lease.
import { db, type Db } from "../db";
import { metricInputSchema, type MetricInput } from "./types";

export interface ProgressInput {
  metric?: MetricInput;
  /** Latest step reached (defaults to metric.step); job.step never goes backwards. */
  step?: number;
  totalSteps?: number | null;
  /** Replaces job.logTail when given. */
  logTail?: string;
  now?: number;
}

/** Returns false (and records nothing) when the worker no longer holds the job. */
export async function recordProgress(
  jobId: number,
  workerId: string,
  input: ProgressInput,
  client: Db = db(),
): Promise<boolean> {
  const m = input.metric ? metricInputSchema.parse(input.metric) : undefined;
  const stageMetrics = m?.stageMetrics ? JSON.stringify(m.stageMetrics) : null;
  const step = input.step ?? m?.step ?? -1; // -1: leave job.step as it is
  const now = new Date(input.now ?? Date.now());

  const updateJob = client.$executeRaw`
    UPDATE "Job"
    SET step = CASE WHEN step < ${step} THEN ${step} ELSE step END,
        "totalSteps" = COALESCE(${input.totalSteps ?? null}, "totalSteps"),
        "logTail" = COALESCE(${input.logTail ?? null}, "logTail")
    WHERE id = ${jobId} AND "workerId" = ${workerId} AND status = 'running'`;
  if (!m) return (await updateJob) === 1;

  // Insert-or-update the metric only if the lease is held (INSERT ... SELECT ... WHERE),
  // in the same transaction as the job update.
  const upsertMetric = client.$executeRaw`
    INSERT INTO "Metric" ("jobId", step, epoch, loss, lr, "gradNorm", tokens, "tokensPerSec", "elapsedS", "gpuMemGib", "stageMetrics", "createdAt")
    SELECT ${jobId}, ${m.step}, ${m.epoch}, ${m.loss}, ${m.lr}, ${m.gradNorm ?? null}, ${m.tokens ?? null},
           ${m.tokensPerSec ?? null}, ${m.elapsedS ?? null}, ${m.gpuMemGib ?? null}, ${stageMetrics}, ${now}
    FROM "Job" WHERE id = ${jobId} AND "workerId" = ${workerId} AND status = 'running'
    ON CONFLICT ("jobId", step) DO UPDATE SET
      epoch = excluded.epoch, loss = excluded.loss, lr = excluded.lr, "gradNorm" = excluded."gradNorm",
      tokens = excluded.tokens, "tokensPerSec" = excluded."tokensPerSec", "elapsedS" = excluded."elapsedS",
      "gpuMemGib" = excluded."gpuMemGib", "stageMetrics" = excluded."stageMetrics"`;
  const [jobRows] = await client.$transaction([updateJob, upsertMetric]);
  return jobRows === 1;
}
