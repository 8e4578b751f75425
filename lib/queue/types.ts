// Job queue vocabulary shared by the server, the worker and the queue operations.
import { z } from "zod";
import { stageMetricsSchema } from "../schemas/trainer-events"; // relative: prisma.config.ts loads this file without the @/ alias

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export const jobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** Statuses a job never leaves. */
export const FINAL_STATUSES = ["succeeded", "failed", "cancelled"] as const satisfies readonly JobStatus[];
export type FinalStatus = (typeof FINAL_STATUSES)[number];
export const finalStatusSchema = z.enum(FINAL_STATUSES);

export function isFinalStatus(s: string): s is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(s);
}

/** What a job runs: a LoRA training run, or an Evaluate / Export task (worker/run-task.ts). */
export const JOB_KINDS = ["train", "eval", "export"] as const;
export const jobKindSchema = z.enum(JOB_KINDS);
export type JobKind = z.infer<typeof jobKindSchema>;
/** The kinds that run a `tuneboard_trainer evaluate|export` task instead of training. */
export const TASK_KINDS = ["eval", "export"] as const satisfies readonly JobKind[];
export type TaskKind = (typeof TASK_KINDS)[number];

/** Default lease: a worker that misses heartbeats for this long loses its job to another worker. */
export const DEFAULT_LEASE_MS = 30_000;
/** A job whose lease expired this many times (worker crashed each time) is failed instead of retried. */
export const DEFAULT_MAX_ATTEMPTS = 3;

export const enqueueInputSchema = z.object({
  kind: jobKindSchema.default("train"),
  name: z.string().trim().min(1).max(200),
  /** JSON text of the run config, already validated by the caller (lib/schemas/run-config.ts). */
  config: z.string().refine((s) => {
    try {
      JSON.parse(s);
      return true;
    } catch {
      return false;
    }
  }, "config must be JSON text"),
  modelPath: z.string().min(1),
  /** Comma-separated dataset names, for display. */
  datasets: z.string(),
  outputDir: z.string().min(1).optional(),
  /** GPUs the job needs on one worker (0: any worker). Defaults to the config's `num_gpus`, else 0. */
  numGpus: z.number().int().min(0).max(64).optional(),
});
export type EnqueueInput = z.input<typeof enqueueInputSchema>;

export const metricInputSchema = z.object({
  step: z.number().int().nonnegative(),
  epoch: z.number().finite(),
  loss: z.number().finite(),
  lr: z.number().finite(),
  gradNorm: z.number().finite().nullish(),
  tokens: z.number().int().nonnegative().nullish(),
  tokensPerSec: z.number().finite().nullish(),
  elapsedS: z.number().finite().nullish(),
  gpuMemGib: z.number().finite().nullish(),
  /** Preference / reward stages: TRL's metrics of the step (stored as JSON). */
  stageMetrics: stageMetricsSchema.nullish(),
});
export type MetricInput = z.input<typeof metricInputSchema>;

/** One GPU as a worker advertises it (nvidia-smi): memory in MiB. */
export const gpuInfoSchema = z.object({
  index: z.number().int().nonnegative(),
  name: z.string().max(200),
  memoryTotalMiB: z.number().nonnegative(),
  memoryUsedMiB: z.number().nonnegative().nullable().default(null),
  utilizationPct: z.number().min(0).max(100).nullable().default(null),
});
export type GpuInfo = z.infer<typeof gpuInfoSchema>;

export const workerHeartbeatSchema = z.object({
  id: z.string().min(1),
  hostname: z.string().min(1),
  pid: z.number().int().nonnegative(),
  currentJobId: z.number().int().positive().nullish(),
  /** The worker's GPUs (worker/gpus.ts); stored as JSON text. */
  gpus: z.array(gpuInfoSchema).default([]),
});
export type WorkerHeartbeat = z.input<typeof workerHeartbeatSchema>;
