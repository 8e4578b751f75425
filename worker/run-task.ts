// Runs one claimed job of kind "eval" (Evaluate & Predict) or "export" (merge + save a model
// folder) in the job skeleton (worker/job-runner.ts: lease, Abort, log, final state): writes the
// task config into the job's folder under the runs root, starts
// `python -m tuneboard_trainer evaluate|export`, turns progress events into job.step/totalSteps,
// and stores the result JSON the trainer names in Job.result.
import fs from "node:fs";
import path from "node:path";
import type { Job } from "@/lib/db";
import { evalResultSchema, evalTaskSchema } from "@/lib/schemas/eval-config";
import { exportResultSchema, exportTaskSchema } from "@/lib/schemas/export-config";
import type { TrainerEvent } from "@/lib/schemas/trainer-events";
import { recordProgress } from "@/lib/queue/progress";
import { TASK_KINDS, type TaskKind } from "@/lib/queue/types";
import { runWithLease, type JobContext, type JobIo, type RunningJob } from "./job-runner";

export { TASK_KINDS, type TaskKind };
export const isTaskKind = (k: string): k is TaskKind => (TASK_KINDS as readonly string[]).includes(k);

/** The arguments of the Python subcommand and its config file contents, or a reason it cannot run. */
function buildTask(
  job: Job,
  kind: TaskKind,
  dataDir: string,
  outputDir: string,
): { command: "evaluate" | "export"; config: object } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(job.config);
  } catch {
    return { error: "Invalid configuration: the stored config is not JSON" };
  }
  const bad = (e: { issues: { path: PropertyKey[]; message: string }[] }) => {
    const issue = e.issues[0];
    return { error: `Invalid configuration: ${issue ? `${issue.path.join(".") || "config"}: ${issue.message}` : "unreadable"}` };
  };
  if (kind === "eval") {
    const parsed = evalTaskSchema.safeParse(raw);
    if (!parsed.success) return bad(parsed.error);
    const { adapter_run: _run, ...task } = parsed.data;
    return { command: "evaluate", config: { ...task, dataset_dir: dataDir, output_dir: outputDir } };
  }
  const parsed = exportTaskSchema.safeParse(raw);
  if (!parsed.success) return bad(parsed.error);
  const { adapter_run: _run, ...task } = parsed.data;
  return { command: "export", config: { ...task, output_dir: outputDir } };
}

export function runTask(job: Job, kind: TaskKind, ctx: JobContext): RunningJob {
  const { env, workerId } = ctx;
  const outputDir = path.join(env.runsDir, `${kind}-${job.id}`);
  const task = buildTask(job, kind, env.dataDir, outputDir);
  const command = "error" in task ? kind : task.command;
  let result: string | null = null;
  let resultProblem: string | null = null;
  // Stages (load, loss, predict / merge, save) each count from 0; job.step is their running sum.
  let stage = "";
  let stageOffset = 0;
  let stageTotal = 0;

  const readResult = (e: Extract<TrainerEvent, { type: "result" }>) => {
    // The trainer names a file in the folder we gave it; anything else is not read.
    try {
      const file = fs.realpathSync(e.result_path);
      if (path.dirname(file) !== fs.realpathSync(outputDir)) {
        resultProblem = `the result file ${e.result_path} is outside the job folder`;
        return;
      }
      const json: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
      const parsed = (kind === "eval" ? evalResultSchema : exportResultSchema).safeParse(json);
      if (parsed.success) result = JSON.stringify(parsed.data);
      else resultProblem = `malformed result file: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`;
    } catch (err) {
      resultProblem = `cannot read the result file: ${(err as Error).message}`;
    }
  };
  const onEvent = (e: TrainerEvent, io: JobIo) => {
    const { progress, appendLog } = io;
    switch (e.type) {
      case "progress":
        if (e.stage !== stage) {
          stageOffset += stageTotal;
          stage = e.stage;
          appendLog(`[${kind}] ${e.stage}\n`);
        }
        stageTotal = e.total;
        progress.step = stageOffset + e.current;
        progress.totalSteps = stageOffset + e.total;
        io.write(() => recordProgress(job.id, workerId, { step: progress.step, totalSteps: progress.totalSteps }));
        io.emitRunning();
        break;
      case "result":
        readResult(e);
        appendLog(`[${kind}] results in ${e.output_dir}\n`);
        break;
      default:
        appendLog(`[worker] unexpected ${e.type} event from ${command}\n`);
    }
  };

  return runWithLease(job, ctx, {
    outputDir,
    initial: { step: 0, totalSteps: null, logTail: "" },
    names: { child: `the ${kind} process`, job: kind, logPrefix: `${kind} ` },
    prepare: () =>
      "error" in task
        ? task
        : {
            configFile: "task_config.json",
            config: task.config,
            command: task.command,
            processNames: { child: task.command, event: "event" },
            startLog: `[worker ${workerId}] starting ${task.command} for job ${job.id} (attempt ${job.attempts})\n`,
          },
    onEvent,
    async outcome(exit, io) {
      if (exit.code === 0 && result !== null) return { succeeded: true, result };
      return {
        succeeded: false,
        error: exit.code === 0 && !io.lastError() ? `No result: ${resultProblem ?? `${command} ended without a result event`}` : null,
      };
    },
  });
}
