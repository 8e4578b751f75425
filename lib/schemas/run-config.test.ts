// The run config's GPUs field (num_gpus): bounds, default, and errors named at the field, as the
// Train form posts it (strings) and as JSON clients do (numbers).
import { describe, expect, it } from "vitest";
import { DEFAULT_RUN_CONFIG, globalBatchSize, runConfigSchema } from "./run-config";

const base = { ...DEFAULT_RUN_CONFIG, model_name_or_path: "m", dataset: ["identity"] };

function gpusError(value: unknown): string | undefined {
  const r = runConfigSchema.safeParse({ ...base, num_gpus: value });
  if (r.success) return undefined;
  // Only this field was changed, so it is the only one at fault.
  expect(r.error.issues.map((i) => i.path.join("."))).toEqual(["num_gpus"]);
  return r.error.issues[0].message;
}

describe("num_gpus", () => {
  it("defaults to 0 (any worker) when absent or left empty", () => {
    const { num_gpus: _gone, ...without } = base;
    expect(runConfigSchema.parse(without).num_gpus).toBe(0);
    expect(runConfigSchema.parse({ ...base, num_gpus: "" }).num_gpus).toBe(0);
    expect(runConfigSchema.parse({ ...base, num_gpus: "  " }).num_gpus).toBe(0);
    expect(DEFAULT_RUN_CONFIG.num_gpus).toBe(0);
  });

  it("accepts whole numbers 0..64, typed or as numbers", () => {
    expect(runConfigSchema.parse({ ...base, num_gpus: "2" }).num_gpus).toBe(2);
    expect(runConfigSchema.parse({ ...base, num_gpus: " 8 " }).num_gpus).toBe(8);
    expect(runConfigSchema.parse({ ...base, num_gpus: 0 }).num_gpus).toBe(0);
    expect(runConfigSchema.parse({ ...base, num_gpus: 64 }).num_gpus).toBe(64);
  });

  it("refuses what is not a GPU count, with a message at the field", () => {
    expect(gpusError("-1")).toBe("GPUs must be ≥ 0");
    expect(gpusError(65)).toBe("GPUs must be ≤ 64");
    expect(gpusError("1.5")).toBe("GPUs must be a whole number");
    expect(gpusError("two")).toBe("GPUs must be a number");
    expect(gpusError(true)).toBe("GPUs must be a number");
    expect(gpusError([2])).toBe("GPUs must be a number");
  });
});

describe("globalBatchSize", () => {
  it("is batch × accumulation × GPUs, one rank for 0 or 1 GPU", () => {
    expect(globalBatchSize(2, 8, 0)).toBe(16);
    expect(globalBatchSize(2, 8, 1)).toBe(16);
    expect(globalBatchSize(2, 8, 4)).toBe(64);
  });
});
