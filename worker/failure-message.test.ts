import { describe, expect, it } from "vitest";
import { failureMessage, isOutOfMemory, OOM_MESSAGE } from "./failure-message";

const exit1 = { code: 1, signal: null };

describe("failureMessage", () => {
  it("out of memory: the trainer's oom event", () => {
    expect(failureMessage({ ...exit1, error: { kind: "oom", message: "CUDA out of memory. Tried to allocate 2.00 GiB" } })).toBe(OOM_MESSAGE);
  });

  it("out of memory: MemoryError / CUDA OOM text without an oom event", () => {
    expect(failureMessage({ ...exit1, error: { kind: "internal", message: "MemoryError" } })).toBe(OOM_MESSAGE);
    expect(failureMessage({ ...exit1, logTail: "Traceback (most recent call last):\n  ...\nMemoryError\n" })).toBe(OOM_MESSAGE);
    expect(
      failureMessage({ ...exit1, logTail: "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79.1 GiB total)\n" }),
    ).toBe(OOM_MESSAGE);
  });

  it("out of memory: killed by SIGKILL (the kernel's OOM killer) when the worker did not stop it", () => {
    expect(failureMessage({ code: null, signal: "SIGKILL" })).toBe(OOM_MESSAGE);
    expect(failureMessage({ code: 137, signal: null })).toBe(OOM_MESSAGE);
    // The worker's own SIGKILL (after SIGTERM's grace period) is not an OOM.
    expect(isOutOfMemory({ code: null, signal: "SIGKILL", stoppedByWorker: true })).toBe(false);
    expect(failureMessage({ code: null, signal: "SIGKILL", stoppedByWorker: true })).toMatch(/stopped by SIGKILL/);
  });

  it("config errors: kind config or exit code 2", () => {
    expect(failureMessage({ code: 2, signal: null, error: { kind: "config", message: "cutoff_len must be ≥ 8" } })).toBe(
      "Invalid configuration: cutoff_len must be ≥ 8",
    );
    expect(failureMessage({ code: 2, signal: null, logTail: "usage: tuneboard_trainer\nerror: unrecognized arguments: --x\n" })).toBe(
      "Invalid configuration: usage: tuneboard_trainer\nerror: unrecognized arguments: --x",
    );
  });

  it("data errors", () => {
    expect(failureMessage({ ...exit1, error: { kind: "data", message: 'dataset "x": record 3: output must be a string' } })).toBe(
      'Dataset problem: dataset "x": record 3: output must be a string',
    );
    // kind wins over the exit code
    expect(failureMessage({ code: 2, signal: null, error: { kind: "data", message: "record 0: empty" } })).toBe("Dataset problem: record 0: empty");
  });

  it("anything else keeps the trainer's message or its last log lines", () => {
    expect(failureMessage({ ...exit1, error: { kind: "internal", message: "boom" } })).toBe("Training failed: boom");
    const msg = failureMessage({ code: 3, signal: null, logTail: Array.from({ length: 10 }, (_, i) => `line ${i}`).join("\n") });
    expect(msg).toBe("The trainer exited with code 3:\nline 5\nline 6\nline 7\nline 8\nline 9");
    expect(failureMessage({ code: null, signal: "SIGSEGV" })).toBe("The trainer was stopped by SIGSEGV");
  });
});
