// Clone, Load and Compare carry the quantization settings: a stored config's quantization_bit and method come
// back into the form as they were, reach the request (and Show command) unchanged, and differ in Compare.
import { describe, expect, it } from "vitest";
import { applyConfig, readStoredConfig, stateToInput, type FormState } from "./form";
import { diffConfigs } from "@/lib/jobs/config-diff";
import { DEFAULT_RUN_CONFIG, runRequestSchema } from "@/lib/schemas/run-config";

const empty: FormState = {
  values: { quantization_bit: "none", quantization_method: "auto" },
  flags: { use_rslora: false, use_dora: false, train_on_prompt: false, mask_history: false, packing: false, gradient_checkpointing: true },
  targetAll: true,
  modules: [],
  datasets: [],
};
const stored = (bits: string, method: string) =>
  JSON.stringify({ ...DEFAULT_RUN_CONFIG, model_name_or_path: "/m/demo", dataset: ["identity"], quantization_bit: bits, quantization_method: method });

describe("quantization settings through clone and compare", () => {
  it("a cloned 8-bit int8 run fills the form and queues the same settings", () => {
    const { config, dropped } = readStoredConfig(stored("8", "int8"));
    expect(dropped).toEqual([]);
    const form = applyConfig(empty, config);
    expect(form.values).toMatchObject({ quantization_bit: "8", quantization_method: "int8" });
    const parsed = runRequestSchema.parse(stateToInput(form));
    expect(parsed).toMatchObject({ quantization_bit: "8", quantization_method: "int8" });
  });
  it("Compare lists the quantization bit when two runs differ in it", () => {
    const diff = diffConfigs([JSON.parse(stored("none", "auto")), JSON.parse(stored("4", "auto"))]);
    expect(diff.rows).toEqual([{ key: "quantization_bit", values: ["none", "4"] }]);
  });
});
