// The one builder of the trainer's config file: the queue's and the UI's fields stay out, the
// worker's paths go in, and the result passes the config-file schema the trainer validates with.
import { describe, expect, it } from "vitest";
import { DEFAULT_RUN_CONFIG, runConfigSchema, trainerConfigFileSchema } from "@/lib/schemas/run-config";
import { configFileText, trainerConfigFile } from "./config-file";

const config = runConfigSchema.parse({ ...DEFAULT_RUN_CONFIG, name: "mine", num_gpus: 2, model_name_or_path: "/m", dataset: ["identity"] });

describe("trainerConfigFile", () => {
  it("leaves out name and num_gpus and adds the worker's folders", () => {
    const file = trainerConfigFile(config, { dataDir: "/data", outputDir: "/runs/run-1" });
    expect(file).not.toHaveProperty("name");
    expect(file).not.toHaveProperty("num_gpus");
    expect(file).toMatchObject({ model_name_or_path: "/m", dataset_dir: "/data", output_dir: "/runs/run-1" });
    expect(file.resume_from_checkpoint).toBeUndefined();
    expect(trainerConfigFileSchema.safeParse(JSON.parse(configFileText(file))).success).toBe(true);
  });

  it("takes the resolved model path and the checkpoint a retried run resumes from", () => {
    const file = trainerConfigFile(config, { modelPath: "/models/x", dataDir: "/d", outputDir: "/o", resumeFrom: "/o/checkpoint-4" });
    expect(file.model_name_or_path).toBe("/models/x");
    expect(file.resume_from_checkpoint).toBe("/o/checkpoint-4");
  });

  it("names the continued run's folder instead of its number", () => {
    const linked = runConfigSchema.parse({ ...DEFAULT_RUN_CONFIG, continue_from_run: 3, model_name_or_path: "/m", dataset: ["identity"] });
    const file = trainerConfigFile(linked, { dataDir: "/d", outputDir: "/runs/run-4", continueFrom: "/runs/run-3" });
    expect(file).not.toHaveProperty("continue_from_run");
    expect(file.continue_from).toBe("/runs/run-3");
    expect(trainerConfigFileSchema.safeParse(JSON.parse(configFileText(file))).success).toBe(true);
  });
});
