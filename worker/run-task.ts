// Runs one claimed job of kind "eval" (Evaluate & Predict) or "export" (merge + save a model
// folder): writes the task config into the job's folder under the runs root, starts
// `python -m tuneboard_trainer evaluate|export`, keeps the lease, honours Abort, turns progress
// events into job.step/totalSteps, and stores the result JSON the trainer names in Job.result.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import type { Job } from "@/lib/db";
import { db } from "@/lib/db";
import { evalResultSchema, evalTaskSchema } from "@/lib/schemas/eval-config";
import { exportResultSchema, exportTaskSchema } from "@/lib/schemas/export-config";
import { parseTrainerLine, type TrainerEvent } from "@/lib/schemas/trainer-events";
import type { JobStatusUpdate } from "@/lib/schemas/socket";
import { heartbeatJob } from "@/lib/queue/heartbeat";
import { finishJob } from "@/lib/queue/finish";
import { recordProgress } from "@/lib/queue/progress";
import { releaseJob } from "@/lib/queue/release";
import { trainerCommand } from "./trainer-process";
import { failureMessage, type TrainerErrorKind } from "./failure-message";
import type { JobContext, RunningJob } from "./run-job";

const LOG_TAIL_CHARS = 20_000;
const HEARTBEAT_MS = 1_000;
const LOG_FLUSH_MS = 1_000;

export const TASK_KINDS = ["eval", "export"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];
export const isTaskKind = (k: string): k is TaskKind => (TASK_KINDS as readonly string[]).includes(k);

/** The arguments of the Python subcommand and its config file contents, or a reason it cannot run. */
function buildTask(job: Job, kind: TaskKind, dataDir: string, outputDir: string): { command: string; config: object } | { error: string } {
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
  let kill: ((graceMs: number) => void) | null = null;
  let cancelled = false;
  let abandoned = false;
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    ctx.log(`job ${job.id}: abort requested, stopping the ${kind} process`);
    kill?.(3000);
  };
  const abandon = () => {
    abandoned = true;
    kill?.(3000);
  };
  const done = execute(job, kind, ctx, (k) => (kill = k), () => cancelled, cancel, () => abandoned);
  return { jobId: job.id, cancel, abandon, done };
}

async function execute(
  job: Job,
  kind: TaskKind,
  ctx: JobContext,
  setKill: (k: (graceMs: number) => void) => void,
  isCancelled: () => boolean,
  cancel: () => void,
  isAbandoned: () => boolean,
): Promise<void> {
  const { env, workerId } = ctx;
  let step = 0;
  let totalSteps: number | null = null;
  let logTail = "";
  let logDirty = false;
  let lostLease = false;
  let lastError: { message: string; kind: TrainerErrorKind } | null = null;
  let result: string | null = null;
  let resultProblem: string | null = null;
  // Stages (load, loss, predict / merge, save) each count from 0; job.step is their running sum.
  let stage = "";
  let stageOffset = 0;
  let stageTotal = 0;
  let writes: Promise<unknown> = Promise.resolve();
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

  const outputDir = path.join(env.runsDir, `${kind}-${job.id}`);
  const task = buildTask(job, kind, env.dataDir, outputDir);
  if ("error" in task) {
    await finishJob(job.id, workerId, { status: "failed", error: task.error });
    ctx.emitStatus(status({ status: "failed", error: task.error }));
    return;
  }
  fs.mkdirSync(outputDir, { recursive: true });
  const configPath = path.join(outputDir, "task_config.json");
  fs.writeFileSync(configPath, JSON.stringify(task.config, null, 2));
  await db().job.updateMany({ where: { id: job.id, workerId, status: "running" }, data: { outputDir } });
  ctx.emitStatus(status({ status: "running" }));
  appendLog(`[worker ${workerId}] starting ${task.command} for job ${job.id} (attempt ${job.attempts})\n`);

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
  const onEvent = (e: TrainerEvent) => {
    switch (e.type) {
      case "log":
        appendLog(`[${e.level}] ${e.message}\n`);
        break;
      case "progress":
        if (e.stage !== stage) {
          stageOffset += stageTotal;
          stage = e.stage;
          appendLog(`[${kind}] ${e.stage}\n`);
        }
        stageTotal = e.total;
        step = stageOffset + e.current;
        totalSteps = stageOffset + e.total;
        write(() => recordProgress(job.id, workerId, { step, totalSteps }));
        ctx.emitStatus(status({ status: "running" }));
        break;
      case "result":
        readResult(e);
        appendLog(`[${kind}] results in ${e.output_dir}\n`);
        break;
      case "error":
        lastError = { message: e.message, kind: e.kind };
        appendLog(`[error] ${e.message}\n`);
        break;
      default:
        appendLog(`[worker] unexpected ${e.type} event from ${task.command}\n`);
    }
  };

  // ---- run: an argument array, its own process group, stdin held open (--exit-with-stdin) ----
  const cmd = trainerCommand(env.python, env.root, [task.command, "--config", configPath, "--exit-with-stdin"]);
  const child = spawn(cmd.command, cmd.args, { cwd: env.root, env: cmd.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  child.stdin!.on("error", () => {});
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };
  const kill = (graceMs: number) => {
    killGroup("SIGTERM");
    setTimeout(() => killGroup("SIGKILL"), graceMs).unref();
  };
  setKill(kill);
  if (isCancelled()) kill(3000);
  const stdoutDone = new Promise<void>((resolve) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      const parsed = parseTrainerLine(line);
      if (parsed === null) appendLog(line + "\n");
      else if ("error" in parsed) appendLog(`[worker] skipped malformed event (${parsed.error}): ${line}\n`);
      else onEvent(parsed.event);
    });
    rl.on("close", resolve);
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => appendLog(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("error", (err) => {
      appendLog(`[worker] could not start ${task.command}: ${err.message}\n`);
      resolve({ code: 127, signal: null });
    });
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });

  const beat = setInterval(() => {
    write(async () => {
      const hb = await heartbeatJob(job.id, workerId, { leaseMs: ctx.leaseMs });
      if (!hb.ok) {
        if (!lostLease) ctx.log(`job ${job.id}: lease lost; stopping without writing its result`);
        lostLease = true;
        kill(1000);
      } else if (hb.cancelRequested) cancel();
    });
  }, HEARTBEAT_MS);
  const flush = setInterval(() => {
    if (!logDirty) return;
    logDirty = false;
    const snapshot = logTail;
    write(() => recordProgress(job.id, workerId, { logTail: snapshot }));
  }, LOG_FLUSH_MS);

  const [exit] = await Promise.all([exited, stdoutDone]);
  clearInterval(beat);
  clearInterval(flush);

  // ---- record the outcome (only if we still hold the job) ----
  let final: JobStatusUpdate["status"];
  let error: string | null = null;
  if (isCancelled()) {
    final = "cancelled";
    appendLog(`[worker] ${kind} aborted by the user\n`);
  } else if (exit.code === 0 && result !== null) {
    final = "succeeded";
  } else {
    final = "failed";
    error =
      exit.code === 0 && !lastError
        ? `No result: ${resultProblem ?? `${task.command} ended without a result event`}`
        : failureMessage({ ...exit, stoppedByWorker: lostLease || isAbandoned(), error: lastError, logTail });
  }
  const tail = logTail;
  write(() => recordProgress(job.id, workerId, { logTail: tail }));
  if (final === "succeeded") {
    const stored = result;
    write(() => db().job.updateMany({ where: { id: job.id, workerId, status: "running" }, data: { result: stored } }));
  }
  await writes;
  if (lostLease) return;
  if (isAbandoned() && !isCancelled()) {
    if (await releaseJob(job.id, workerId)) {
      ctx.log(`job ${job.id}: handed back to the queue (worker shutting down)`);
      ctx.emitStatus(status({ status: "queued" }));
    }
    return;
  }
  const won = await finishJob(job.id, workerId, { status: final, error });
  if (!won) {
    ctx.log(`job ${job.id}: no longer ours; result not written`);
    return;
  }
  const row = await db().job.findUnique({ where: { id: job.id } });
  ctx.emitStatus(
    status({
      status: final,
      error,
      finishedAt: row?.finishedAt?.toISOString() ?? new Date().toISOString(),
      cancelRequested: row?.cancelRequested ?? false,
    }),
  );
  ctx.log(`job ${job.id}: ${kind} ${final}${error ? ` (${error.split("\n")[0]})` : ""}`);
}
