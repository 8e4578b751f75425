// Runs one claimed job to its end. Train jobs: writes the trainer config, starts the trainer,
// stores and relays every event (metrics, evals, checkpoints), resumes a retried run from its
// last checkpoint; the lease, Abort, the log and the final state are the skeleton's
// (worker/job-runner.ts), which writes nothing more once the lease is lost. Eval / export jobs
// go to worker/run-task.ts.
import path from "node:path";
import type { Job } from "@/lib/db";
import { runConfigSchema } from "@/lib/schemas/run-config";
import { trainerConfigFile } from "@/lib/trainer/config-file";
import type { TrainerEvent } from "@/lib/schemas/trainer-events";
import type { EvalPoint, MetricPoint } from "@/lib/schemas/socket";
import { recordProgress } from "@/lib/queue/progress";
import { recordEval } from "@/lib/queue/eval";
import { recordFastPathOptions, recordStoppedEarly } from "@/lib/queue/run-details";
import { latestCheckpoint } from "@/lib/jobs/checkpoints";
import { runFolder } from "@/lib/jobs/continued-run";
import { runWithLease, type JobContext, type JobIo, type RunningJob } from "./job-runner";
import { isTaskKind, runTask } from "./run-task";

export type { JobContext, RunningJob };

// The newest complete checkpoint: shared with the Run page, which says where Resume continues.
export { latestCheckpoint };

export function runJob(job: Job, ctx: JobContext): RunningJob {
  if (isTaskKind(job.kind)) return runTask(job, job.kind, ctx); // eval / export jobs (worker/run-task.ts)
  const { env, workerId } = ctx;
  const outputDir = path.join(env.runsDir, `run-${job.id}`);
  // The Runs table's "final loss" is the last logged step's loss: the trainer's train_loss is the
  // mean over the whole run, which reads as "still high" after a run that converged.
  let lastStepLoss: number | null = null;
  let finalLoss: number | null = null;
  let finalEvalLoss: number | null = null;
  let sawDone = false;

  const onEvent = (e: TrainerEvent, io: JobIo) => {
    const { progress, appendLog, write } = io;
    switch (e.type) {
      case "started":
        progress.totalSteps = e.total_steps;
        appendLog(`[trainer] ${e.num_samples} samples, ${e.total_steps} steps, ${e.trainable_params.toLocaleString("en")} trainable of ${e.total_params.toLocaleString("en")} parameters on ${e.device} (${e.dtype})\n`);
        write(() => recordProgress(job.id, workerId, { step: 0, totalSteps: progress.totalSteps }));
        if (e.fast_path_options) {
          const options = e.fast_path_options;
          write(() => recordFastPathOptions(job.id, workerId, options));
        }
        io.emitRunning();
        break;
      case "step": {
        progress.step = e.step;
        if (e.loss !== null) lastStepLoss = e.loss;
        progress.totalSteps = e.total_steps;
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
          stageMetrics: e.metrics ?? null,
        };
        if (e.loss !== null) {
          const metric = { ...point, loss: e.loss };
          write(() => recordProgress(job.id, workerId, { metric, totalSteps: progress.totalSteps }));
        } else {
          write(() => recordProgress(job.id, workerId, { step: e.step, totalSteps: progress.totalSteps }));
        }
        ctx.emitMetric(job.id, point);
        io.emitRunning();
        break;
      }
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
        // The trainer's log already says it in words; the Run page reads it from the job.
        if (e.stopped_early) {
          const stop = e.stopped_early;
          write(() => recordStoppedEarly(job.id, workerId, stop));
        }
        finalLoss = lastStepLoss ?? e.train_loss;
        finalEvalLoss = e.eval_loss ?? null;
        appendLog(`[trainer] done: ${e.step} steps in ${e.runtime_s.toFixed(1)} s, mean train loss ${e.train_loss?.toFixed(4) ?? "n/a"}, last ${lastStepLoss?.toFixed(4) ?? "n/a"}\n`);
        break;
    }
  };

  return runWithLease(job, ctx, {
    outputDir,
    initial: { step: job.step, totalSteps: job.totalSteps, logTail: job.logTail },
    names: { child: "the trainer", job: "run", logPrefix: "" },
    prepare() {
      const parsed = runConfigSchema.safeParse(JSON.parse(job.config));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return { error: `Invalid configuration: ${issue ? `${issue.path.join(".") || "config"}: ${issue.message}` : "unreadable run config"}` };
      }
      // A job that was running before (its worker died and the lease expired, or a worker shut
      // down) continues from its last checkpoint; the steps logged after it are logged again and
      // overwrite their rows, so the chart stays one continuous history. The GPUs arrive as
      // ctx.gpuIndices.
      const checkpoint = job.attempts > 1 ? latestCheckpoint(outputDir, job.step) : null;
      // A continued run starts from the final state in the earlier run's folder (run-N).
      const parent = parsed.data.continue_from_run;
      const continueFrom = parent === undefined ? null : runFolder(env.runsDir, parent);
      const trainerConfig = trainerConfigFile(parsed.data, { dataDir: env.dataDir, outputDir, resumeFrom: checkpoint, continueFrom });
      return {
        configFile: "tuneboard_config.json",
        config: trainerConfig,
        command: "train",
        gpuIndices: ctx.gpuIndices,
        startLog:
          `[worker ${workerId}] starting the trainer for run ${job.id} (attempt ${job.attempts})` +
          (checkpoint ? `, resuming from ${path.basename(checkpoint)}` : "") +
          "\n",
        note: checkpoint ? `job ${job.id}: resuming from ${checkpoint}` : undefined,
      };
    },
    onEvent,
    async outcome(exit, io) {
      if (exit.code !== 0 || !sawDone) return { succeeded: false, error: null };
      // Remote workers upload the adapter first; the job succeeds only if that worked.
      const uploadError = io.lostLease() || !ctx.beforeFinish ? null : await ctx.beforeFinish(job.id, outputDir);
      return uploadError ? { succeeded: false, error: uploadError } : { succeeded: true };
    },
    finalFields: () => ({ finalLoss, finalEvalLoss }),
  });
}
