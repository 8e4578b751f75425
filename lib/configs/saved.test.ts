// Saved configurations on a real SQLite database (the committed migrations), and the form-state
// round trip that Save -> Load and Clone rely on.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RUN_CONFIG, runConfigSchema } from "@/lib/schemas/run-config";
import { applyConfig, readStoredConfig, stateToInput, toFlags, toValues, type FormState } from "./form";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-saved-"));
const url = `file:${path.join(dir, "test.db")}`;
process.env.DATABASE_URL = url;

let saved: typeof import("./saved");
let db: typeof import("@/lib/db").db;

beforeAll(async () => {
  const { migrateDeploy } = await import("@/prisma/migrate");
  await migrateDeploy(url, { log: () => {} });
  saved = await import("./saved");
  ({ db } = await import("@/lib/db"));
});
afterAll(async () => {
  await db?.().$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

const input = () => ({ ...DEFAULT_RUN_CONFIG, model_name_or_path: "tuneboard-demo", dataset: ["a", "b"], learning_rate: "0.02" });

describe("saved configurations", () => {
  it("save validates like Start, stores the parsed config, and loads it back", async () => {
    const r = await saved.saveConfig("  my config ", input());
    expect(r).toEqual({ ok: true, name: "my config", created: true });
    const loaded = await saved.loadSavedConfig("my config");
    expect(loaded?.dropped).toEqual([]);
    expect(loaded?.config.learning_rate).toBe(0.02);
    expect(loaded?.config.dataset).toEqual(["a", "b"]);
    expect((await saved.listSavedConfigs()).map((c) => c.name)).toEqual(["my config"]);
  });

  it("saving under an existing name updates it", async () => {
    const r = await saved.saveConfig("my config", { ...input(), learning_rate: 0.03 });
    expect(r).toMatchObject({ ok: true, created: false });
    expect((await saved.loadSavedConfig("my config"))?.config.learning_rate).toBe(0.03);
    expect(await db().savedConfig.count()).toBe(1);
  });

  it("refuses bad input at the field that caused it and stores nothing", async () => {
    const r = await saved.saveConfig("", { ...input(), learning_rate: "abc", cutoff_len: 2 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.fieldErrors.saved_name).toMatch(/name/);
    expect(r.fieldErrors.learning_rate).toBe("learning rate must be a number");
    expect(r.fieldErrors.cutoff_len).toMatch(/≥ 4/);
    expect(await db().savedConfig.count()).toBe(1);
  });

  it("deletes by name; unknown names are reported, not thrown", async () => {
    expect(await saved.deleteSavedConfig("nope")).toBe(false);
    expect(await saved.loadSavedConfig("nope")).toBeNull();
    expect(await saved.deleteSavedConfig("my config")).toBe(true);
    expect(await saved.listSavedConfigs()).toEqual([]);
  });
});

describe("form state <-> stored config", () => {
  const base: FormState = {
    values: { ...toValues(DEFAULT_RUN_CONFIG), name: "", model_name_or_path: "m", max_steps: "9" },
    flags: toFlags(DEFAULT_RUN_CONFIG) as FormState["flags"],
    targetAll: true,
    modules: ["q_proj", "v_proj"],
    datasets: ["x"],
  };

  it("a config applied to the form parses back to the same config", () => {
    const cfg = runConfigSchema.parse({
      ...DEFAULT_RUN_CONFIG,
      model_name_or_path: "/models/demo",
      dataset: ["identity_greatbot"],
      learning_rate: 0.004,
      lora_target: ["q_proj", "k_proj"],
      use_dora: true,
      gradient_checkpointing: false,
      name: "run (copy)",
    });
    const state = applyConfig(base, cfg);
    expect(state.values.max_steps).toBe(""); // absent in the stored config: cleared, not kept
    expect(state.targetAll).toBe(false);
    expect(runConfigSchema.parse(stateToInput(state))).toEqual(cfg);
  });

  it("reading a stored config keeps what parses and names what no longer does", () => {
    const stored = JSON.stringify({ learning_rate: 0.01, cutoff_len: -5, dataset_dir: "/x", output_dir: "/y", template: "llama3" });
    const r = readStoredConfig(stored);
    expect(r.config).toEqual({ learning_rate: 0.01, template: "llama3" });
    expect(r.dropped).toEqual(["cutoff_len"]);
    expect(readStoredConfig("not json")).toEqual({ config: {}, dropped: ["config"] });
  });
});
