// One rule per field on both sides of the boundary: the same run configs go to the Train form's zod
// schema (runConfigSchema), to the trainer config file's (trainerConfigFileSchema) and to the Python
// trainer's loader (TrainConfig.from_dict through the venv's python, as a run would), and all three
// must give the same verdict, naming the same field when they refuse. The values are JSON ones
// (numbers, booleans, lists): the form's strings ("4", "true", "") are parsed before the config is
// stored, and only the form's schema reads them.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEFAULT_RUN_CONFIG, runConfigSchema, trainerConfigFileSchema } from "@/lib/schemas/run-config";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIRS = { dataset_dir: "data", output_dir: "out" };
// num_gpus is the queue's (the form checks it, lib/schemas/run-config.test.ts); the trainer never sees it,
// nor continue_from_run (the worker turns it into continue_from, a folder).
const { num_gpus: _queueOnly, continue_from_run: _runLink, ...TRAINER_DEFAULTS } = DEFAULT_RUN_CONFIG;
const BASE = { ...TRAINER_DEFAULTS, model_name_or_path: "/models/x", dataset: ["identity"] };

type Verdict = { ok: true } | { ok: false; field: string };

const SCRIPT = `
import json, sys
from tuneboard_trainer.config import TrainConfig
from tuneboard_trainer.validation import ConfigError, ContractError
out = []
for cfg in json.load(sys.stdin):
    try:
        TrainConfig.from_dict(cfg)
        out.append({"ok": True})
    except ContractError as e:
        out.append({"ok": False, "field": e.field})
    except ConfigError as e:
        out.append({"ok": False, "field": str(e).split(":")[0]})
print(json.dumps(out))
`;

function pythonVerdicts(configs: object[]): Verdict[] {
  const r = spawnSync(path.join(ROOT, ".venv", "bin", "python"), ["-c", SCRIPT], {
    cwd: ROOT,
    input: JSON.stringify(configs),
    env: { ...process.env, PYTHONPATH: path.join(ROOT, "worker", "trainer") },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Verdict[];
}

function zodVerdict(schema: typeof runConfigSchema | typeof trainerConfigFileSchema, config: object): Verdict {
  const r = schema.safeParse(config);
  if (r.success) return { ok: true };
  const issue = r.error.issues[0];
  return { ok: false, field: issue.code === "unrecognized_keys" ? issue.keys[0] : issue.path.join(".") };
}

const NUMBERS = [-3, -1, 0, 1e-9, 0.5, 1, 1.5, 2, 3, 4, 8, 1000, 1001, 4096, 4097, 1_048_576, 1_048_577, 1e12];
const NOT_NUMBERS = [null, true, "fast", [1], {}];
const NUMERIC_FIELDS = Object.entries(BASE)
  .filter(([, v]) => typeof v === "number")
  .map(([k]) => k)
  .concat(["max_steps"]);

/** [label, config] pairs: the base config, and one field changed per case. */
function cases(): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = [["base", BASE]];
  const put = (field: string, value: unknown) => out.push([`${field}=${JSON.stringify(value)}`, { ...BASE, [field]: value }]);
  for (const field of NUMERIC_FIELDS) for (const v of [...NUMBERS, ...NOT_NUMBERS]) put(field, v);
  for (const v of ["all", [], ["q_proj"], ["q_proj", "qkv"], "q_proj", "q_proj,v_proj", ["all"]]) put("lora_target", v);
  for (const v of ["all", "mlp", "mlp,self_attn", "mlp, self_attn", "", "mlp;x", ["mlp"]]) put("freeze_trainable_modules", v);
  for (const v of ["llama3", "qwen", "tokenizer", "vicuna", 3]) put("template", v);
  for (const v of ["lora", "freeze", "full", "qlora"]) put("finetuning_type", v);
  for (const v of ["cosine", "polynomial"]) put("lr_scheduler_type", v);
  for (const v of ["auto", "bf16", "int8"]) put("compute_type", v);
  for (const v of ["auto", "on", "off", "fast"]) put("fast_path", v);
  for (const v of ["pt", "sft", "rm", "dpo", "kto", "ppo", 1]) put("stage", v);
  for (const v of ["sigmoid", "hinge", "ipo", "orpo", "simpo", "kto_pair"]) put("pref_loss", v);
  for (const v of ["none", "8", "4", "2", 4, null]) put("quantization_bit", v);
  for (const v of ["auto", "nf4", "int8", "fp8", "bnb"]) put("quantization_method", v);
  for (const v of ["auto", "cpu", "cuda", "cuda:1", "cuda:", "tpu"]) put("device", v);
  for (const v of [["a", "b"], [], [""], "a, b", [1]]) put("dataset", v);
  for (const v of ["m", "", 3]) put("model_name_or_path", v);
  for (const v of ["run-1/checkpoint-5", 3]) put("resume_from_checkpoint", v);
  for (const field of ["use_rslora", "use_dora", "train_on_prompt", "mask_history", "packing", "gradient_checkpointing"]) {
    for (const v of [true, false, 1, null, "yes"]) put(field, v);
  }
  return out;
}

describe("run config: the Train form, the config file and the trainer agree", () => {
  const all = cases();
  const python = pythonVerdicts(all.map(([, c]) => ({ ...c, ...DIRS })));

  it("covers the five rules that used to differ", () => {
    const byLabel = new Map(all.map(([label], i) => [label, python[i]]));
    expect(byLabel.get("learning_rate=2")).toEqual({ ok: true });
    expect(byLabel.get("cutoff_len=4")).toEqual({ ok: true });
    expect(byLabel.get("cutoff_len=3")).toEqual({ ok: false, field: "cutoff_len" });
    expect(byLabel.get("max_grad_norm=0")).toEqual({ ok: true });
    expect(byLabel.get("max_grad_norm=-1")).toEqual({ ok: false, field: "max_grad_norm" });
    expect(byLabel.get("freeze_trainable_layers=-3")).toEqual({ ok: true });
    expect(byLabel.get("freeze_trainable_layers=0")).toEqual({ ok: false, field: "freeze_trainable_layers" });
    expect(byLabel.get("lora_rank=4097")).toEqual({ ok: true });
    expect(byLabel.get("lora_rank=0")).toEqual({ ok: false, field: "lora_rank" });
  });

  it("gives the same verdict and field for every case", () => {
    const mismatches = all.flatMap(([label, config], i) => {
      const form = zodVerdict(runConfigSchema, config);
      const file = zodVerdict(trainerConfigFileSchema, { ...config, ...DIRS });
      const got = { form, file, python: python[i] };
      return JSON.stringify(form) === JSON.stringify(python[i]) && JSON.stringify(file) === JSON.stringify(python[i]) ? [] : [{ label, ...got }];
    });
    if (mismatches.length > 0) console.log(mismatches.map((m) => JSON.stringify(m)).join("\n"));
    expect(mismatches).toEqual([]);
    expect(all.length).toBeGreaterThan(400);
  });

  it("refuses an unknown field in the config file on both sides (the form drops extra fields)", () => {
    const config = { ...BASE, ...DIRS, learning_rat: 1e-4 };
    expect(zodVerdict(trainerConfigFileSchema, config)).toEqual({ ok: false, field: "learning_rat" });
    expect(pythonVerdicts([config])).toEqual([{ ok: false, field: "learning_rat" }]);
  });

  it("refuses an empty checkpoint path in the config file on both sides (the form reads it as none)", () => {
    const config = { ...BASE, ...DIRS, resume_from_checkpoint: "" };
    expect(zodVerdict(trainerConfigFileSchema, config)).toEqual({ ok: false, field: "resume_from_checkpoint" });
    expect(pythonVerdicts([config])).toEqual([{ ok: false, field: "resume_from_checkpoint" }]);
    expect(zodVerdict(runConfigSchema, { ...BASE, resume_from_checkpoint: "" })).toEqual({ ok: true });
  });

  it("agrees on the continued run's folder in the config file, and the form's run link stays out of it", () => {
    const configs = ["runs/run-3", "", 3, null].map((v) => ({ ...BASE, ...DIRS, continue_from: v }));
    const expected: Verdict[] = [{ ok: true }, { ok: false, field: "continue_from" }, { ok: false, field: "continue_from" }, { ok: true }];
    expect(configs.map((c) => zodVerdict(trainerConfigFileSchema, c))).toEqual(expected);
    expect(pythonVerdicts(configs)).toEqual(expected);
    const linked = { ...BASE, ...DIRS, continue_from_run: 3 };
    expect(zodVerdict(trainerConfigFileSchema, linked)).toEqual({ ok: false, field: "continue_from_run" });
    expect(pythonVerdicts([linked])).toEqual([{ ok: false, field: "continue_from_run" }]);
  });
});
