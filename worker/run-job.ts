// Runs one claimed job to its end: writes the trainer config, starts the trainer, stores and
// relays every event, renews the lease, honours Abort, and records the final state — unless
// the lease was lost, in which case it writes nothing more.
import fs from "node:fs";
import path from "node:path";
import type { Job } from "@/lib/db";
import { db } from "@/lib/db";
import type { Env } from "@/lib/env";
import { runConfigSchema, type TrainerConfigFile } from "@/lib/schemas/run-config";
import type { TrainerEvent } from "@/lib/schemas/trainer-events";
import type { EvalPoint, JobStatusUpdate, MetricPoint } from "@/lib/schemas/socket";
import { heartbeatJob } from "@/lib/queue/heartbeat";
import { finishJob } from "@/lib/queue/finish";
import { recordProgress } from "@/lib/queue/progress";
import { releaseJob } from "@/lib/queue/release";
import { recordEval } from "@/lib/queue/eval";
import { startTrainer, type TrainerRun } from "./trainer-process";
import { failureMessage, type TrainerErrorKind } from "./failure-message";
import { latestCheckpoint } from "@/lib/jobs/checkpoints";
import { isTaskKind, runTask } from "./run-task";

const LOG_TAIL_CHARS = 20_000;
const HEARTBEAT_MS = 1_000; // also how fast Abort is noticed
const LOG_FLUSH_MS = 1_000;

export interface JobContext {
  env: Env;
  workerId: string;
  leaseMs: number;
  emitStatus: (s: JobStatusUpdate) => void;
  emitMetric: (jobId: number, p: MetricPoint) => void;
  emitEval: (jobId: number, p: EvalPoint) => void;
  emitLog: (jobId: number, text: string) => void;
  log: (msg: string) => void;
  /** GPUs to train on (job.numGpus of the worker's); more than one: torchrun (worker/trainer-process.ts). */
  gpuIndices?: number[];
  /** Remote workers (worker/remote/): a checkpoint was written; upload it. */
  onCheckpoint?: (jobId: number, checkpointPath: string) => void;
  /** Remote workers: before a succeeded job is recorded, upload its adapter; an error string fails the job. */
  beforeFinish?: (jobId: number, outputDir: string) => Promise<string | null>;
}

export interface RunningJob {
  jobId: number;
  /** Abort by the user: the job ends as cancelled. */
  cancel: () => void;
  /** Worker shutdown: stop the trainer and hand the job back to the queue. */
  abandon: () => void;
  done: Promise<void>;
}

// The newest complete checkpoint: shared with the Run page, which says where Resume continues.
export { latestCheckpoint };

export function runJob(job: Job, ctx: JobContext): RunningJob {
  if (isTaskKind(job.kind)) return runTask(job, job.kind, ctx); // eval / export jobs (worker/run-task.ts)
  let trainer: TrainerRun | null = null;
  let cancelled = false;
  let abandoned = false;
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    ctx.log(`job ${job.id}: abort requested, stopping the trainer`);
    trainer?.kill(3000);
  };
  const abandon = () => {
    abandoned = true;
    trainer?.kill(3000);
  };
  const done = execute(job, ctx, (t) => (trainer = t), () => cancelled, cancel, () => abandoned);
  return { jobId: job.id, cancel, abandon, done };
}

async function execute(
  job: Job,
  ctx: JobContext,
  setTrainer: (t: TrainerRun) => void,
  isCancelled: () => boolean,
  cancel: () => void,
  isAbandoned: () => boolean,
): Promise<void> {
  const { env, workerId } = ctx;
  let step = job.step;
  let totalSteps = job.totalSteps;
  let logTail = job.logTail;
  let logDirty = false;
  let lostLease = false;
  let lastError: { message: string; kind: TrainerErrorKind } | null = null;
  // The Runs table's "final loss" is the last logged step's loss: the trainer's train_loss is the
  // mean over the whole run, which reads as "still high" after a run that converged.
  let lastStepLoss: number | null = null;
  let finalLoss: number | null = null;
  let finalEvalLoss: number | null = null;
  let sawDone = false;
  let writes: Promise<unknown> = Promise.resolve();
  // DB writes run in order, one at a time, so a metric never lands after the final state.
  const write = (fn: () => Promise<unknown>) => {
    writes = writes.then(fn).catch((err) => ctx.log(`job ${job.id}: database write failed: ${(err as Error).message}`));
  };
  const status = (s: Partial<JobStatusUpdate> & Pick<JobStatusUpdate, "status">): JobStatusUpdate => ({
    jobId: job.id,
    step,
    totalSteps,
    startedAt: job.startedAt?.toISOString() ?? null,
    ...s,
  });
  const appendLog = (text: string) => {
    logTail = (logTail + text).slice(-LOG_TAIL_CHARS);
    logDirty = true;
    ctx.emitLog(job.id, text);
  };

  // ---- setup: the trainer's config file, inside the runs root ----
  const parsed = runConfigSchema.safeParse(JSON.parse(job.config));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const error = `Invalid configuration: ${issue ? `${issue.path.join(".") || "config"}: ${issue.message}` : "unreadable run config"}`;
    await finishJob(job.id, workerId, { status: "failed", error });
    ctx.emitStatus(status({ status: "failed", error }));
    return;
  }
  const outputDir = path.join(env.runsDir, `run-${job.id}`);
  fs.mkdirSync(outputDir, { recursive: true });
  // name and num_gpus are the UI's and the queue's (the GPUs arrive as ctx.gpuIndices); the
  // trainer refuses unknown fields.
  const { name: _name, num_gpus: _numGpus, ...config } = parsed.data;
  const trainerConfig: TrainerConfigFile = { ...config, dataset_dir: env.dataDir, output_dir: outputDir };
  // A job that was running before (its worker died and the lease expired, or a worker shut
  // down) continues from its last checkpoint; the steps logged after it are logged again and
  // overwrite their rows, so the chart stays one continuous history.
  const checkpoint = job.attempts > 1 ? latestCheckpoint(outputDir, job.step) : null;
  if (checkpoint) trainerConfig.resume_from_checkpoint = checkpoint;
  const configPath = path.join(outputDir, "tuneboard_config.json");
  fs.writeFileSync(configPath, JSON.stringify(trainerConfig, null, 2));
  await db().job.updateMany({ where: { id: job.id, workerId, status: "running" }, data: { outputDir } });
  ctx.emitStatus(status({ status: "running" }));
  appendLog(
    `[worker ${workerId}] starting the trainer for run ${job.id} (attempt ${job.attempts})` +
      (checkpoint ? `, resuming from ${path.basename(checkpoint)}` : "") +
      "\n",
  );
  if (checkpoint) ctx.log(`job ${job.id}: resuming from ${checkpoint}`);

  const onEvent = (e: TrainerEvent) => {
    switch (e.type) {
      case "started":
        totalSteps = e.total_steps;
        appendLog(`[trainer] ${e.num_samples} samples, ${e.total_steps} steps, ${e.trainable_params.toLocaleString("en")} trainable of ${e.total_params.toLocaleString("en")} parameters on ${e.device} (${e.dtype})\n`);
        write(() => recordProgress(job.id, workerId, { step: 0, totalSteps }));
        ctx.emitStatus(status({ status: "running" }));
        break;
      case "step": {
        step = e.step;
        if (e.loss !== null) lastStepLoss = e.loss;
        totalSteps = e.total_steps;
        const point: MetricPoint = {
          step: e.step,
          epoch: e.epoch,
          loss: e.loss,
          lr: e.lr,
          gradNorm: e.grad_norm,
          tokens: e.tokens,
          tokensPerSec: e.tokens_per_sec,
          elapsedS: e.elapsed_s,
          gpuMemGib: e.gpu_mem_gib ?? null,
        };
        if (e.loss !== null) {
          const metric = { ...point, loss: e.loss };
          write(() => recordProgress(job.id, workerId, { metric, totalSteps }));
        } else {
          write(() => recordProgress(job.id, workerId, { step: e.step, totalSteps }));
        }
        ctx.emitMetric(job.id, point);
        ctx.emitStatus(status({ status: "running" }));
        break;
      }
      case "log":
        appendLog(`[${e.level}] ${e.message}\n`);
        break;
      case "eval":
        if (e.eval_loss !== null) {
          const point: EvalPoint = { step: e.step, epoch: e.epoch, evalLoss: e.eval_loss };
          write(() => recordEval(job.id, workerId, point));
          ctx.emitEval(job.id, point);
        }
        appendLog(`[trainer] eval at step ${e.step}: loss ${e.eval_loss?.toFixed(4) ?? "n/a"}\n`);
        break;
      case "checkpoint":
        appendLog(`[trainer] checkpoint at step ${e.step}: ${e.path}\n`);
        ctx.onCheckpoint?.(job.id, e.path);
        break;
      case "done":
        sawDone = true;
        finalLoss = lastStepLoss ?? e.train_loss;
        finalEvalLoss = e.eval_loss ?? null;
        appendLog(`[trainer] done: ${e.step} steps in ${e.runtime_s.toFixed(1)} s, mean train loss ${e.train_loss?.toFixed(4) ?? "n/a"}, last ${lastStepLoss?.toFixed(4) ?? "n/a"}\n`);
        break;
      case "error":
        lastError = { message: e.message, kind: e.kind };
        appendLog(`[error] ${e.message}\n`);
        break;
    }
  };

  // ---- train ----
  const trainer = startTrainer({ python: env.python, root: env.root, configPath, gpuIndices: ctx.gpuIndices, handlers: { onEvent, onLog: appendLog } });
  setTrainer(trainer);
  if (isCancelled()) trainer.kill(3000);

  const beat = setInterval(() => {
    write(async () => {
      const hb = await heartbeatJob(job.id, workerId, { leaseMs: ctx.leaseMs });
      if (!hb.ok) {
        if (!lostLease) ctx.log(`job ${job.id}: lease lost; stopping without writing its result`);
        lostLease = true;
        trainer.kill(1000);
      } else if (hb.cancelRequested) cancel();
    });
  }, HEARTBEAT_MS);
  const flush = setInterval(() => {
    if (!logDirty) return;
    logDirty = false;
    const snapshot = logTail;
    write(() => recordProgress(job.id, workerId, { logTail: snapshot }));
  }, LOG_FLUSH_MS);

  const exit = await trainer.done;
  clearInterval(beat);
  clearInterval(flush);

  // ---- record the outcome (only if we still hold the job) ----
  let final: JobStatusUpdate["status"];
  let error: string | null = null;
  if (isCancelled()) {
    final = "cancelled";
    appendLog(`[worker] run aborted by the user\n`);
  } else if (exit.code === 0 && sawDone) {
    final = "succeeded";
    const uploadError = lostLease || !ctx.beforeFinish ? null : await ctx.beforeFinish(job.id, outputDir);
    if (uploadError) [final, error] = ["failed", uploadError];
  } else {
    final = "failed";
    // A kill the worker sent itself (lease lost, shutdown) is not the OOM killer's SIGKILL.
    error = failureMessage({ ...exit, stoppedByWorker: lostLease || isAbandoned(), error: lastError, logTail });
  }
  const tail = logTail;
  write(() => recordProgress(job.id, workerId, { logTail: tail }));
  await writes;
  if (lostLease) return;
  if (isAbandoned() && !isCancelled()) {
    if (await releaseJob(job.id, workerId)) {
      ctx.log(`job ${job.id}: handed back to the queue (worker shutting down)`);
      ctx.emitStatus(status({ status: "queued" }));
    }
    return;
  }
  const won = await finishJob(job.id, workerId, { status: final, error, finalLoss, finalEvalLoss });
  if (!won) {
    ctx.log(`job ${job.id}: no longer ours; result not written`);
    return;
  }
  const row = await db().job.findUnique({ where: { id: job.id } });
  ctx.emitStatus(
    status({
      status: final,
      error,
      finalLoss,
      finalEvalLoss,
      finishedAt: row?.finishedAt?.toISOString() ?? new Date().toISOString(),
      cancelRequested: row?.cancelRequested ?? false,
    }),
  );
  ctx.log(`job ${job.id}: ${final}${error ? ` (${error.split("\n")[0]})` : ""}`);
}
