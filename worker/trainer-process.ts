// Runs the Python trainer as a child process: an argument array (never a shell string),
// JSON-lines events on stdout parsed with zod, everything on stderr kept as the log tail.
import { spawn, type ChildProcess } from "node:child_process";
import readline from "node:readline";
import { parseTrainerLine, type TrainerEvent } from "@/lib/schemas/trainer-events";
import { env } from "@/lib/env";
import { trainerCommand } from "@/lib/trainer/command";

export interface TrainerHandlers {
  onEvent: (event: TrainerEvent) => void;
  onLog: (text: string) => void;
}

export interface TrainerRun {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once stdout is drained. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after graceMs: Abort must stop the trainer within seconds. */
  kill: (graceMs?: number) => void;
}

export function startTrainer(opts: {
  python: string;
  root: string;
  /** The `tuneboard_trainer` subcommand (default train; worker/run-task.ts: evaluate, export). */
  command?: "train" | "evaluate" | "export";
  configPath: string;
  /** GPUs to use; more than one: torchrun with one process per GPU. */
  gpuIndices?: number[];
  handlers: TrainerHandlers;
  /** How the worker's log lines name the child and its events (default "the trainer", "trainer event"). */
  names?: { child: string; event: string };
}): TrainerRun {
  const gpuIndices = opts.gpuIndices ?? [];
  const names = opts.names ?? { child: "the trainer", event: "trainer event" };
  const cmd = trainerCommand(opts.python, opts.root, [opts.command ?? "train", "--config", opts.configPath, "--exit-with-stdin", ...distArgs(opts.command ?? "train", gpuIndices.length)], gpuIndices);
  // Distributed: when one rank fails, torchrun stops the others, which may report errors of their
  // own (a broken collective); the job's error is the first one, the failing rank's.
  let sawError = false;
  // detached: the trainer leads its own process group, so a kill reaches any helpers it spawned.
  // stdin stays open and unused: if this worker dies, even by SIGKILL, the trainer sees end of
  // input and exits instead of training on as an orphan (--exit-with-stdin).
  const child = spawn(cmd.command, cmd.args, { cwd: opts.root, env: cmd.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  child.stdin!.on("error", () => {}); // EPIPE after the trainer exits is expected

  const stdoutDone = new Promise<void>((resolve) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      const parsed = parseTrainerLine(line);
      if (parsed === null) opts.handlers.onLog(line + "\n");
      else if ("error" in parsed) opts.handlers.onLog(`[worker] skipped malformed ${names.event} (${parsed.error}): ${line}\n`);
      else if (parsed.event.type === "error" && sawError && gpuIndices.length > 1) opts.handlers.onLog(`[worker] later error from another rank: ${parsed.event.message}\n`);
      else {
        if (parsed.event.type === "error") sawError = true;
        opts.handlers.onEvent(parsed.event);
      }
    });
    rl.on("close", resolve);
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => opts.handlers.onLog(chunk));

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("error", (err) => {
      opts.handlers.onLog(`[worker] could not start ${names.child}: ${err.message}\n`);
      resolve({ code: 127, signal: null });
    });
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });

  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };
  return {
    child,
    done: Promise.all([exited, stdoutDone]).then(([r]) => r),
    kill: (graceMs = 3000) => {
      killGroup("SIGTERM");
      setTimeout(() => killGroup("SIGKILL"), graceMs).unref();
    },
  };
}

/** The multi-GPU strategy (DDP or FSDP2) a torchrun training job uses; the trainer decides on `auto`. */
function distArgs(command: string, nproc: number): string[] {
  return command === "train" && nproc > 1 ? ["--dist-strategy", env().TUNEBOARD_DIST_STRATEGY] : [];
}
