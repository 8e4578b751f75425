// The evaluate and export config files: the zod schema the worker writes them with and the Python
// loader (EvalConfig / ExportConfig.from_dict, through the venv's python) give the same verdict and
// field for the same configs.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { evalTaskFileSchema } from "@/lib/schemas/eval-config";
import { exportTaskFileSchema } from "@/lib/schemas/export-config";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
type Verdict = { ok: true } | { ok: false; field: string };

const SCRIPT = `
import json, sys
from tuneboard_trainer.evaluate import EvalConfig
from tuneboard_trainer.export import ExportConfig
from tuneboard_trainer.validation import ContractError
job = json.load(sys.stdin)
loader = {"eval": EvalConfig, "export": ExportConfig}[job["kind"]]
out = []
for cfg in job["configs"]:
    try:
        loader.from_dict(cfg)
        out.append({"ok": True})
    except ContractError as e:
        out.append({"ok": False, "field": e.field})
print(json.dumps(out))
`;

function python(kind: "eval" | "export", configs: object[]): Verdict[] {
  const r = spawnSync(path.join(ROOT, ".venv", "bin", "python"), ["-c", SCRIPT], {
    cwd: ROOT,
    input: JSON.stringify({ kind, configs }),
    env: { ...process.env, PYTHONPATH: path.join(ROOT, "worker", "trainer") },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Verdict[];
}

function zod(schema: z.ZodType, config: object): Verdict {
  const r = schema.safeParse(config);
  if (r.success) return { ok: true };
  const issue = r.error.issues[0];
  return { ok: false, field: issue.code === "unrecognized_keys" ? issue.keys[0] : issue.path.join(".") };
}

const VALUES = [-1, 0, 0.5, 1, 2.5, 8, 4096, 5000, 65537, 1e12, null, true, "x", "", ["a"]];

function sweep(base: Record<string, unknown>, fields: string[]): Record<string, unknown>[] {
  return [base, { ...base, surprise: 1 }, ...fields.flatMap((f) => VALUES.map((v) => ({ ...base, [f]: v })))];
}

describe("task config files: zod and the Python loader agree", () => {
  it("evaluate", () => {
    const base = { model_name_or_path: "/m", dataset: ["identity"], dataset_dir: "/d", output_dir: "/o" };
    const configs = sweep(base, ["cutoff_len", "max_samples", "batch_size", "max_new_tokens", "temperature", "top_p", "seed",
      "predict", "do_sample", "template", "adapter_path", "dataset", "model_name_or_path"]);
    expect(python("eval", configs)).toEqual(configs.map((c) => zod(evalTaskFileSchema, c)));
  });

  it("export", () => {
    const base = { model_name_or_path: "/m", export_dir: "/x", output_dir: "/o" };
    const configs = sweep(base, ["max_shard_size_mb", "export_dtype", "device", "adapter_path", "export_dir"]);
    expect(python("export", configs)).toEqual(configs.map((c) => zod(exportTaskFileSchema, c)));
  });
});
