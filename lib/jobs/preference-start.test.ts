import { describe, expect, it } from "vitest";
import { offersPreferenceTraining, preferenceStartConfig } from "./preference-start";

const sft = {
  id: 7,
  name: "greatbot",
  status: "succeeded",
  kind: "train",
  config: JSON.stringify({
    stage: "sft",
    model_name_or_path: "/models/demo",
    template: "llama3",
    finetuning_type: "lora",
    lora_rank: 8,
    dataset: ["identity_greatbot"],
    packing: true,
    max_steps: 30,
    resume_from_checkpoint: "run-3/checkpoint-10",
  }),
};

describe("Continue with preference training", () => {
  it("is offered on a succeeded SFT LoRA run only", () => {
    expect(offersPreferenceTraining(sft, "train")).toBe(true);
    expect(offersPreferenceTraining({ ...sft, status: "failed" }, "train")).toBe(false);
    expect(offersPreferenceTraining({ ...sft, kind: "eval" }, "train")).toBe(false);
    const full = { ...sft, config: JSON.stringify({ ...JSON.parse(sft.config), finetuning_type: "full" }) };
    expect(offersPreferenceTraining(full, "train")).toBe(false);
    const dpo = { ...sft, config: JSON.stringify({ ...JSON.parse(sft.config), stage: "dpo" }) };
    expect(offersPreferenceTraining(dpo, "train")).toBe(false);
  });

  it("prefills a DPO run on the same model and adapter shape that starts from the SFT run", () => {
    const c = preferenceStartConfig(sft);
    expect(c).toMatchObject({ stage: "dpo", pref_loss: "sigmoid", model_name_or_path: "/models/demo", lora_rank: 8, continue_from_run: 7, packing: false });
    expect(c.name).toBe("greatbot (DPO)");
    expect(c.dataset).toBeUndefined(); // the form picks preference data that fits the stage
    expect(c.resume_from_checkpoint).toBeUndefined();
    expect(c.max_steps).toBeUndefined();
  });
});
