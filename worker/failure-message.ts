// Turns how the trainer ended into the one line a user reads on the Run page: plain words and,
// where there is one, a hint at the fix. The only place that decides these texts.
export const OOM_MESSAGE = "Out of memory: try a smaller batch size, a shorter cutoff length, or turn on gradient checkpointing";

export type TrainerErrorKind = "config" | "data" | "oom" | "internal";

export interface TrainerFailure {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the worker itself stopped the trainer (Abort, lease lost, shutdown). */
  stoppedByWorker?: boolean;
  /** The trainer's last `error` event, if it printed one. */
  error?: { message: string; kind: TrainerErrorKind } | null;
  /** The last lines of the log (stderr and log events), for failures without an error event. */
  logTail?: string;
}

// Python's MemoryError, torch's OutOfMemoryError / "CUDA out of memory", MPS and the C++
// allocator's "bad_alloc", and the kernel's words when it kills a process.
const OOM_TEXT = /\bMemoryError\b|OutOfMemoryError|CUDA out of memory|\bout of memory\b|std::bad_alloc|Killed process \d+|oom-kill/i;

const lastLines = (text: string | undefined, n = 5) => (text ?? "").trimEnd().split("\n").slice(-n).join("\n").trim();

/** True when the failure looks like running out of memory (RAM or GPU). */
export function isOutOfMemory(f: TrainerFailure): boolean {
  if (f.error?.kind === "oom") return true;
  if (f.error && OOM_TEXT.test(f.error.message)) return true;
  if (OOM_TEXT.test(lastLines(f.logTail, 20))) return true;
  // The kernel's OOM killer sends SIGKILL; the worker only sends it after its own SIGTERM.
  if (!f.stoppedByWorker && (f.signal === "SIGKILL" || f.code === 137)) return true;
  return false;
}

/** The job's error text for a failed run. */
export function failureMessage(f: TrainerFailure): string {
  if (isOutOfMemory(f)) return OOM_MESSAGE;
  const detail = f.error?.message.trim() || lastLines(f.logTail) || "no message";
  if (f.error?.kind === "config" || (f.code === 2 && f.error?.kind !== "data")) return `Invalid configuration: ${detail}`;
  if (f.error?.kind === "data") return `Dataset problem: ${detail}`;
  if (f.error) return `Training failed: ${detail}`;
  const how = f.signal ? `was stopped by ${f.signal}` : `exited with code ${f.code ?? "unknown"}`;
  const tail = lastLines(f.logTail);
  return `The trainer ${how}${tail ? `:\n${tail}` : ""}`;
}
