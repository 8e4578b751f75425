// The run config's lifecycle fields: early stopping (patience, min delta, and the rule that it
// needs a validation split) and the link of a continued run; as the Train form posts them (strings)
// and as JSON clients do (numbers).
import { describe, expect, it } from "vitest";
import { DEFAULT_RUN_CONFIG, EARLY_STOPPING_NEEDS_EVAL, runConfigSchema, runRequestSchema, trainerConfigFileSchema } from "./run-config";
import { safeParseIn } from "@/lib/i18n/validation";

const base = { ...DEFAULT_RUN_CONFIG, model_name_or_path: "m", dataset: ["identity"] };

function issues(input: Record<string, unknown>, schema = runRequestSchema) {
  const r = schema.safeParse({ ...base, ...input });
  return r.success ? [] : r.error.issues.map((i) => [i.path.join("."), i.message]);
}

describe("early stopping", () => {
  it("is off by default and in a config that does not name it", () => {
    const { early_stopping_patience: _p, early_stopping_min_delta: _d, ...without } = base;
    const parsed = runRequestSchema.parse(without);
    expect([parsed.early_stopping_patience, parsed.early_stopping_min_delta]).toEqual([0, 0]);
  });

  it("takes a patience and a min delta with a validation split", () => {
    const parsed = runRequestSchema.parse({ ...base, val_size: "0.1", early_stopping_patience: "3", early_stopping_min_delta: "0.01" });
    expect([parsed.early_stopping_patience, parsed.early_stopping_min_delta]).toEqual([3, 0.01]);
  });

  it("refuses a patience without a validation split, at the patience field", () => {
    expect(issues({ early_stopping_patience: "3", val_size: "0" })).toEqual([["early_stopping_patience", EARLY_STOPPING_NEEDS_EVAL]]);
    expect(issues({ early_stopping_patience: 3 })).toEqual([["early_stopping_patience", EARLY_STOPPING_NEEDS_EVAL]]);
    expect(issues({ early_stopping_patience: 0, val_size: 0 })).toEqual([]); // off: no split needed
    // The field-by-field schema (saved configs, stored ones read back) has no rule between fields.
    expect(issues({ early_stopping_patience: 3 }, runConfigSchema)).toEqual([]);
  });

  it("refuses bad values with the field's words", () => {
    expect(issues({ val_size: 0.1, early_stopping_patience: "-1" })).toEqual([["early_stopping_patience", "early stopping patience must be ≥ 0"]]);
    expect(issues({ val_size: 0.1, early_stopping_patience: "1.5" })).toEqual([["early_stopping_patience", "early stopping patience must be a whole number"]]);
    expect(issues({ val_size: 0.1, early_stopping_min_delta: "-0.1" })).toEqual([["early_stopping_min_delta", "early stopping min delta must be ≥ 0"]]);
    expect(issues({ val_size: 0.1, early_stopping_min_delta: "x" })).toEqual([["early_stopping_min_delta", "early stopping min delta must be a number"]]);
  });

  it("says the rule in Chinese when the UI is in Chinese", () => {
    const r = safeParseIn(runRequestSchema, { ...base, early_stopping_patience: 2 }, "zh");
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues[0].message).toBe("早停需要验证集：请把验证集大小设为大于 0");
  });

  it("reaches the trainer's config file with its defaults", () => {
    const file = trainerConfigFileSchema.parse({ model_name_or_path: "m", dataset: ["identity"], dataset_dir: "d", output_dir: "o" });
    expect([file.early_stopping_patience, file.early_stopping_min_delta]).toEqual([0, 0]);
  });
});

describe("continue_from_run", () => {
  it("is a run number, absent when empty", () => {
    expect(runRequestSchema.parse({ ...base, continue_from_run: "7" }).continue_from_run).toBe(7);
    expect(runRequestSchema.parse({ ...base, continue_from_run: "" }).continue_from_run).toBeUndefined();
    expect(issues({ continue_from_run: "0" })).toEqual([["continue_from_run", "continued run must be ≥ 1"]]);
    expect(issues({ continue_from_run: "x" })).toEqual([["continue_from_run", "continued run must be a number"]]);
  });

  it("stays out of the trainer's config file, which names the folder instead", () => {
    const dirs = { model_name_or_path: "m", dataset: ["identity"], dataset_dir: "d", output_dir: "o" };
    expect(trainerConfigFileSchema.safeParse({ ...dirs, continue_from_run: 3 }).success).toBe(false);
    expect(trainerConfigFileSchema.parse({ ...dirs, continue_from: "/runs/run-3" }).continue_from).toBe("/runs/run-3");
  });
});
