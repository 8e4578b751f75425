import { describe, expect, it } from "vitest";
import { stageSelection } from "./stage-choice";
import { DEFAULT_RUN_CONFIG, datasetFitsStage, runRequestSchemaWith } from "@/lib/schemas/run-config";
import { localized } from "@/lib/i18n/validation";

describe("dataset kinds and stages", () => {
  it("each stage takes the kinds it trains on", () => {
    expect(datasetFitsStage("preference", "dpo")).toBe(true);
    expect(datasetFitsStage("preference", "rm")).toBe(true);
    expect(datasetFitsStage("sft", "dpo")).toBe(false);
    expect(datasetFitsStage("kto", "kto")).toBe(true);
    expect(datasetFitsStage("preference", "kto")).toBe(false);
    expect(datasetFitsStage("pretraining", "pt")).toBe(true);
    expect(datasetFitsStage("pretraining", "sft")).toBe(false);
  });

  const base = { ...DEFAULT_RUN_CONFIG, model_name_or_path: "m", dataset: ["identity"] };
  const kinds = { identity: "sft", identity_pref: "preference" } as const;

  it("refuses a dataset that does not fit the stage at the dataset field, in the UI's language", () => {
    const r = runRequestSchemaWith(kinds).safeParse({ ...base, stage: "dpo" });
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0];
    expect(issue.path).toEqual(["dataset"]);
    expect(issue.message).toBe('dataset "identity" does not fit stage dpo: choose a preference dataset');
    const zh = localized({ ok: false, fieldErrors: { dataset: issue.message } }, "zh");
    expect(zh.ok === false && zh.fieldErrors.dataset).toBe("数据集“identity”不适合阶段 dpo：请选择 preference 类型的数据集");
    expect(runRequestSchemaWith(kinds).safeParse({ ...base, stage: "dpo", dataset: ["identity_pref"] }).success).toBe(true);
    expect(runRequestSchemaWith(kinds).safeParse({ ...base, stage: "sft" }).success).toBe(true);
  });

  it("refuses packing for preference stages and a reference loss without LoRA", () => {
    const r = runRequestSchemaWith(kinds).safeParse({ ...base, dataset: ["identity_pref"], stage: "dpo", packing: true, finetuning_type: "full" });
    expect(r.error!.issues.map((i) => i.path[0]).sort()).toEqual(["finetuning_type", "packing"]);
    const orpo = runRequestSchemaWith(kinds).safeParse({ ...base, dataset: ["identity_pref"], stage: "dpo", pref_loss: "orpo", finetuning_type: "full" });
    expect(orpo.success).toBe(true);
  });
});

describe("the Train form's selection when the stage changes", () => {
  const ds = [
    { name: "identity", records: 164, hasPlaceholders: true, error: null, kind: "sft" as const },
    { name: "identity_greatbot", records: 164, hasPlaceholders: false, error: null, kind: "sft" as const },
    { name: "pairs_a", records: 10, hasPlaceholders: false, error: null, kind: "preference" as const },
    { name: "pairs_b", records: 10, hasPlaceholders: false, error: null, kind: "preference" as const },
  ];
  it("keeps the selected datasets that fit, else ticks the newest usable one that does", () => {
    expect(stageSelection(ds, ["identity_greatbot"], "dpo")).toEqual(["pairs_b"]);
    expect(stageSelection(ds, ["pairs_a"], "rm")).toEqual(["pairs_a"]);
    expect(stageSelection(ds, ["pairs_a"], "sft")).toEqual(["identity_greatbot"]);
    expect(stageSelection(ds, [], "kto")).toEqual([]);
  });
});
