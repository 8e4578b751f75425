// The generated contracts in the trainer's package must be what the zod schemas generate today:
// a schema change without `npm run gen:contracts` fails here.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CONTRACTS_DIR, generatedContracts } from "./generate";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("generated contracts", () => {
  const files = generatedContracts();

  it.each(Object.keys(files))("%s is up to date (npm run gen:contracts)", (rel) => {
    const onDisk = fs.existsSync(path.join(ROOT, rel)) ? fs.readFileSync(path.join(ROOT, rel), "utf8") : "(missing)";
    expect(onDisk).toBe(files[rel]);
  });

  it("holds nothing else", () => {
    const dir = path.join(ROOT, CONTRACTS_DIR);
    const present = fs.readdirSync(dir).filter((f) => f !== "__pycache__").map((f) => `${CONTRACTS_DIR}/${f}`);
    expect(present.sort()).toEqual(Object.keys(files).sort());
  });

  it("carries the form's messages and defaults", () => {
    const schema = JSON.parse(files[`${CONTRACTS_DIR}/trainer_config.schema.json`]);
    expect(schema.properties.lora_rank["x-messages"].minimum).toBe("LoRA rank must be ≥ 1");
    expect(schema.properties.learning_rate.default).toBe(5e-5);
    expect(schema.required.sort()).toEqual(["dataset", "dataset_dir", "model_name_or_path", "output_dir"]);
  });
});
