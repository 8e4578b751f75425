// The Runs list: one row per training run, with what the table shows (method from the stored
// config, duration until now for a running job), newest first. Eval and export jobs share the
// queue but have their own page (/evaluate).
import { db } from "@/lib/db";
import { JOB_STATUSES, type JobStatus } from "@/lib/queue/types";
import { jobNumber } from "./job-number";

export const RUNS_LIST_LIMIT = 200;
export const TRAIN_KIND = "train";

export interface RunRow {
  id: number;
  /** The run's number among runs (lib/jobs/job-number.ts). */
  number: number;
  name: string;
  status: string;
  model: string;
  datasets: string;
  method: string;
  /** GPUs the run asked for (0: any worker). */
  numGpus: number;
  startedAt: string | null;
  durationS: number | null;
  finalLoss: number | null;
}

function methodOf(config: string): string {
  try {
    const c = JSON.parse(config) as { finetuning_type?: unknown };
    return typeof c.finetuning_type === "string" ? c.finetuning_type : "—";
  } catch {
    return "—";
  }
}

export async function listRuns(status: JobStatus | null, now = Date.now()): Promise<RunRow[]> {
  const jobs = await db().job.findMany({
    where: { kind: TRAIN_KIND, ...(status ? { status } : {}) },
    orderBy: { id: "desc" },
    take: RUNS_LIST_LIMIT,
    select: { id: true, seq: true, name: true, status: true, modelPath: true, datasets: true, config: true, numGpus: true, startedAt: true, finishedAt: true, finalLoss: true },
  });
  return jobs.map((j) => ({
    id: j.id,
    number: jobNumber(j),
    name: j.name,
    status: j.status,
    model: j.modelPath.split(/[\\/]/).at(-1) ?? j.modelPath,
    datasets: j.datasets,
    method: methodOf(j.config),
    numGpus: j.numGpus,
    startedAt: j.startedAt?.toISOString() ?? null,
    durationS: j.startedAt ? ((j.finishedAt?.getTime() ?? now) - j.startedAt.getTime()) / 1000 : null,
    finalLoss: j.finalLoss,
  }));
}

/** How many runs have each status (for the filter's counts). */
export async function countRunsByStatus(): Promise<Record<JobStatus, number>> {
  const groups = await db().job.groupBy({ by: ["status"], where: { kind: TRAIN_KIND }, _count: { _all: true } });
  const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
  for (const g of groups) if (g.status in counts) counts[g.status as JobStatus] = g._count._all;
  return counts;
}
