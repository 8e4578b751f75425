// The whole visible state of one run, read from the database: what a page needs after a reload.
import { db } from "@/lib/db";
import type { EvalPoint, JobSnapshot, JobStatusUpdate, MetricPoint } from "@/lib/schemas/socket";
import { jobStatus } from "@/lib/schemas/socket";
import { stageMetricsSchema, type StageMetrics } from "@/lib/schemas/trainer-events";

type JobRow = {
  id: number;
  status: string;
  step: number;
  totalSteps: number | null;
  error: string | null;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  cancelRequested: boolean;
};

export function toStatusUpdate(job: JobRow): JobStatusUpdate {
  return {
    jobId: job.id,
    status: jobStatus.parse(job.status),
    step: job.step,
    totalSteps: job.totalSteps,
    error: job.error,
    finalLoss: job.finalLoss,
    finalEvalLoss: job.finalEvalLoss,
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    cancelRequested: job.cancelRequested,
  };
}

/** The stored JSON of a step's stage metrics; null when absent or not the contract's shape. */
export function readStageMetrics(json: string | null): StageMetrics | null {
  if (json === null) return null;
  try {
    const parsed = stageMetricsSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export async function loadJobPoints(jobId: number): Promise<MetricPoint[]> {
  const rows = await db().metric.findMany({ where: { jobId }, orderBy: { step: "asc" } });
  return rows.map((m) => ({
    step: m.step,
    epoch: m.epoch,
    loss: m.loss,
    lr: m.lr,
    gradNorm: m.gradNorm,
    tokens: m.tokens,
    tokensPerSec: m.tokensPerSec,
    elapsedS: m.elapsedS,
    gpuMemGib: m.gpuMemGib,
    stageMetrics: readStageMetrics(m.stageMetrics),
  }));
}

export async function loadEvalPoints(jobId: number): Promise<EvalPoint[]> {
  const rows = await db().evalMetric.findMany({ where: { jobId }, orderBy: { step: "asc" } });
  return rows.map((e) => ({ step: e.step, epoch: e.epoch, evalLoss: e.evalLoss }));
}

export async function loadJobSnapshot(jobId: number): Promise<JobSnapshot | null> {
  const job = await db().job.findUnique({ where: { id: jobId } });
  if (!job) return null;
  const [points, evalPoints] = await Promise.all([loadJobPoints(jobId), loadEvalPoints(jobId)]);
  return { job: toStatusUpdate(job), points, evalPoints, logTail: job.logTail };
}
