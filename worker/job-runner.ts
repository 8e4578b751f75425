// The skeleton every job kind runs in (worker/run-job.ts: train; worker/run-task.ts: eval and
// export). The claim is main.ts's; from there on this file owns what must be the same for every
// kind: the config file in the job's folder, the Python child (worker/trainer-process.ts, an
// argument array), the lease heartbeat, Abort, the log tail, a lost lease (write nothing more),
// worker shutdown (hand the job back), and the final status — written only by the lease holder.
// A kind says what config to write, which subcommand, how its events become rows, what counts as
// success and what else its final row holds (a JobKindBody).
import fs from "node:fs";
import path from "node:path";
import type { Job } from "@/lib/db";
import { db } from "@/lib/db";
import type { Env } from "@/lib/env";
import type { TrainerEvent } from "@/lib/schemas/trainer-events";
import type { EvalPoint, JobStatusUpdate, MetricPoint } from "@/lib/schemas/socket";
import { heartbeatJob } from "@/lib/queue/heartbeat";
import { finishJob, type FinishInput } from "@/lib/queue/finish";
import { recordProgress } from "@/lib/queue/progress";
import { releaseJob } from "@/lib/queue/release";
import { setJobOutputDir, setJobResult } from "@/lib/queue/running";
import { startTrainer, type TrainerRun } from "./trainer-process";
import { failureMessage, type TrainerErrorKind } from "./failure-message";

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

/** What the skeleton lends a kind's event handler and outcome. */
export interface JobIo {
  /** Shown in status updates and, through the kind's recordProgress calls, stored. */
  progress: { step: number; totalSteps: number | null };
  appendLog: (text: string) => void;
  /** Queues a DB write; writes run in order, one at a time, so none lands after the final state. */
  write: (fn: () => Promise<unknown>) => void;
  /** Relays the current progress as a "running" status. */
  emitRunning: () => void;
  /** The trainer's last `error` event, if any. */
  lastError: () => { message: string; kind: TrainerErrorKind } | null;
  lostLease: () => boolean;
}

export interface PreparedJob {
  /** The config file's name in the job folder and its contents. */
  configFile: string;
  config: object;
  /** The `python -m tuneboard_trainer` subcommand. */
  command: "train" | "evaluate" | "export";
  /** GPUs for the child (CUDA_VISIBLE_DEVICES; torchrun when more than one). */
  gpuIndices?: number[];
  /** How the worker's log lines name the child and its events (default: the trainer's). */
  processNames?: { child: string; event: string };
  /** The job log's first line. */
  startLog: string;
  /** A line for the worker's own log, after the start line. */
  note?: string;
}

/** How a succeeded-looking exit turned out: a failure message, or null for the default one (failureMessage). */
export type Outcome = { succeeded: true; result?: string } | { succeeded: false; error: string | null };

export interface JobKindBody {
  /** The job's folder under the runs root. */
  outputDir: string;
  /** Where progress and the log continue from: a retried train job keeps its history; tasks start over. */
  initial: { step: number; totalSteps: number | null; logTail: string };
  /** How log lines name the child and the job: "the trainer" / "run", "the eval process" / "eval". */
  names: { child: string; job: string; logPrefix: string };
  /** Parses the stored config; an error string fails the job before anything runs. */
  prepare: () => PreparedJob | { error: string };
  /** Events other than `log` and `error`, which the skeleton handles the same for every kind. */
  onEvent: (e: TrainerEvent, io: JobIo) => void;
  /** The outcome of an exit that was not an abort. */
  outcome: (exit: { code: number | null; signal: NodeJS.Signals | null }, io: JobIo) => Promise<Outcome>;
  /** Kind-specific fields of the final row and status update (train: the final losses). */
  finalFields?: () => Pick<FinishInput, "finalLoss" | "finalEvalLoss">;
}

export function runWithLease(job: Job, ctx: JobContext, body: JobKindBody): RunningJob {
  let trainer: TrainerRun | null = null;
  let cancelled = false;
  let abandoned = false;
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    ctx.log(`job ${job.id}: abort requested, stopping ${body.names.child}`);
    trainer?.kill(3000);
  };
  const abandon = () => {
    abandoned = true;
    trainer?.kill(3000);
  };
  const done = execute(job, ctx, body, (t) => (trainer = t), { isCancelled: () => cancelled, cancel, isAbandoned: () => abandoned });
  return { jobId: job.id, cancel, abandon, done };
}

interface Flags {
  isCancelled: () => boolean;
  cancel: () => void;
  isAbandoned: () => boolean;
}

/** What the phases of one job share: the log tail, the ordered database writes, the status shape. */
class JobRecord {
  readonly progress: { step: number; totalSteps: number | null };
  logTail: string;
  logDirty = false;
  lostLease = false;
  lastError: { message: string; kind: TrainerErrorKind } | null = null;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    readonly job: Job,
    readonly ctx: JobContext,
    readonly body: JobKindBody,
  ) {
    this.progress = { step: body.initial.step, totalSteps: body.initial.totalSteps };
    this.logTail = body.initial.logTail;
  }

  write = (fn: () => Promise<unknown>) => {
    this.writes = this.writes.then(fn).catch((err) => this.ctx.log(`job ${this.job.id}: database write failed: ${(err as Error).message}`));
  };

  /** Resolves once every queued write has run. */
  written(): Promise<unknown> {
    return this.writes;
  }

  status = (s: Partial<JobStatusUpdate> & Pick<JobStatusUpdate, "status">): JobStatusUpdate => ({
    jobId: this.job.id,
    step: this.progress.step,
    totalSteps: this.progress.totalSteps,
    startedAt: this.job.startedAt?.toISOString() ?? null,
    ...s,
  });

  appendLog = (text: string) => {
    this.logTail = (this.logTail + text).slice(-LOG_TAIL_CHARS);
    this.logDirty = true;
    this.ctx.emitLog(this.job.id, text);
  };

  io(): JobIo {
    return {
      progress: this.progress,
      appendLog: this.appendLog,
      write: this.write,
      emitRunning: () => this.ctx.emitStatus(this.status({ status: "running" })),
      lastError: () => this.lastError,
      lostLease: () => this.lostLease,
    };
  }
}

async function execute(job: Job, ctx: JobContext, body: JobKindBody, setTrainer: (t: TrainerRun) => void, flags: Flags): Promise<void> {
  const r = new JobRecord(job, ctx, body);
  const ready = await setUp(r);
  if (!ready) return;
  const trainer = startChild(r, ready.prepared, ready.configPath);
  setTrainer(trainer);
  if (flags.isCancelled()) trainer.kill(3000);
  const stopLease = keepLease(r, trainer, flags.cancel);
  const exit = await trainer.done;
  stopLease();
  await settle(r, exit, flags);
}

/** The config file, inside the job's folder under the runs root; null when the job failed already. */
async function setUp(r: JobRecord): Promise<{ prepared: PreparedJob; configPath: string } | null> {
  const { job, ctx, body } = r;
  const prepared = body.prepare();
  if ("error" in prepared) {
    await finishJob(job.id, ctx.workerId, { status: "failed", error: prepared.error });
    ctx.emitStatus(r.status({ status: "failed", error: prepared.error }));
    return null;
  }
  fs.mkdirSync(body.outputDir, { recursive: true });
  const configPath = path.join(body.outputDir, prepared.configFile);
  fs.writeFileSync(configPath, JSON.stringify(prepared.config, null, 2));
  await setJobOutputDir(job.id, ctx.workerId, body.outputDir);
  ctx.emitStatus(r.status({ status: "running" }));
  r.appendLog(prepared.startLog);
  if (prepared.note) ctx.log(prepared.note);
  return { prepared, configPath };
}

/** The Python child: an argument array, its own process group, stdin held open (--exit-with-stdin). */
function startChild(r: JobRecord, prepared: PreparedJob, configPath: string): TrainerRun {
  const io = r.io();
  // The log text is the child's stderr alone: the trainer prints every `log` and `error` event
  // there as well (events.py EventSink.log, cli.py), in order with its warnings and tracebacks,
  // so appending the events' text too would show each of those lines twice.
  const onEvent = (e: TrainerEvent) => {
    switch (e.type) {
      case "log":
        break;
      case "error":
        r.lastError = { message: e.message, kind: e.kind };
        break;
      default:
        r.body.onEvent(e, io);
    }
  };
  return startTrainer({
    python: r.ctx.env.python,
    root: r.ctx.env.root,
    command: prepared.command,
    configPath,
    gpuIndices: prepared.gpuIndices,
    names: prepared.processNames,
    handlers: { onEvent, onLog: r.appendLog },
  });
}

/** Renews the lease (and hears Abort) and stores the log tail every second; returns the stop. */
function keepLease(r: JobRecord, trainer: TrainerRun, cancel: () => void): () => void {
  const { job, ctx } = r;
  const beat = setInterval(() => {
    r.write(async () => {
      const hb = await heartbeatJob(job.id, ctx.workerId, { leaseMs: ctx.leaseMs });
      if (!hb.ok) {
        if (!r.lostLease) ctx.log(`job ${job.id}: lease lost; stopping without writing its result`);
        r.lostLease = true;
        trainer.kill(1000);
      } else if (hb.cancelRequested) cancel();
    });
  }, HEARTBEAT_MS);
  const flush = setInterval(() => {
    if (!r.logDirty) return;
    r.logDirty = false;
    const snapshot = r.logTail;
    r.write(() => recordProgress(job.id, ctx.workerId, { logTail: snapshot }));
  }, LOG_FLUSH_MS);
  return () => {
    clearInterval(beat);
    clearInterval(flush);
  };
}

/** Records the outcome, only while this worker still holds the job. */
async function settle(r: JobRecord, exit: { code: number | null; signal: NodeJS.Signals | null }, flags: Flags): Promise<void> {
  const { job, ctx, body } = r;
  const { workerId } = ctx;
  let final: JobStatusUpdate["status"];
  let error: string | null = null;
  let result: string | undefined;
  if (flags.isCancelled()) {
    final = "cancelled";
    r.appendLog(`[worker] ${body.names.job} aborted by the user\n`);
  } else {
    const outcome = await body.outcome(exit, r.io());
    if (outcome.succeeded) {
      final = "succeeded";
      result = outcome.result;
    } else {
      final = "failed";
      // A kill the worker sent itself (lease lost, shutdown) is not the OOM killer's SIGKILL.
      error =
        outcome.error ??
        failureMessage({ ...exit, stoppedByWorker: r.lostLease || flags.isAbandoned(), error: r.lastError, logTail: r.logTail });
    }
  }
  const tail = r.logTail;
  r.write(() => recordProgress(job.id, workerId, { logTail: tail }));
  if (result !== undefined) {
    const stored = result;
    r.write(() => setJobResult(job.id, workerId, stored));
  }
  await r.written();
  if (r.lostLease) return;
  if (flags.isAbandoned() && !flags.isCancelled()) {
    if (await releaseJob(job.id, workerId)) {
      ctx.log(`job ${job.id}: handed back to the queue (worker shutting down)`);
      ctx.emitStatus(r.status({ status: "queued" }));
    }
    return;
  }
  const extra = body.finalFields?.() ?? {};
  const won = await finishJob(job.id, workerId, { status: final, error, ...extra });
  if (!won) {
    ctx.log(`job ${job.id}: no longer ours; result not written`);
    return;
  }
  const row = await db().job.findUnique({ where: { id: job.id } });
  ctx.emitStatus(
    r.status({
      status: final,
      error,
      ...extra,
      finishedAt: row?.finishedAt?.toISOString() ?? new Date().toISOString(),
      cancelRequested: row?.cancelRequested ?? false,
    }),
  );
  ctx.log(`job ${job.id}: ${body.names.logPrefix}${final}${error ? ` (${error.split("\n")[0]})` : ""}`);
}
