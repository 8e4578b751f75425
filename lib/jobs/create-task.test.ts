// Evaluate / export requests: each bad input is refused at its field and nothing is queued; an
// adapter is only taken from a succeeded run whose folder lies inside the runs root; the adapter
// .tar is read back by the system's own tar. Real files, a real SQLite database, in a temp dir.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverTestEnv } from "@/lib/test-support/server-test-env";

const env = serverTestEnv("tuneboard-create-task-");
const { dir, modelsDir, runsDir, exportsDir } = env;

let createEval: typeof import("./create-eval").createEval;
let createExport: typeof import("./create-export").createExport;
let adapterRuns: typeof import("./adapter-runs");
let tarStream: typeof import("./tar").tarStream;
let db: typeof import("@/lib/db").db;

function writeAdapter(d: string) {
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 8 }));
  fs.writeFileSync(path.join(d, "adapter_model.safetensors"), Buffer.from(Array.from({ length: 1500 }, (_, i) => i % 251)));
}

async function addRun(status: string, outputDir: string | null) {
  const job = await db().job.create({
    data: { name: `run-${status}`, config: "{}", modelPath: path.join(modelsDir, "tiny"), datasets: "identity", status, outputDir },
  });
  return job.id;
}

let goodRun = 0;
let failedRun = 0;
let outsideRun = 0;
let noFilesRun = 0;

beforeAll(async () => {
  await env.prepare();
  env.makeModel("tiny");
  ({ createEval } = await import("./create-eval"));
  ({ createExport } = await import("./create-export"));
  adapterRuns = await import("./adapter-runs");
  ({ tarStream } = await import("./tar"));
  ({ db } = await import("@/lib/db"));

  writeAdapter(path.join(runsDir, "run-good"));
  goodRun = await addRun("succeeded", path.join(runsDir, "run-good"));
  writeAdapter(path.join(runsDir, "run-failed"));
  failedRun = await addRun("failed", path.join(runsDir, "run-failed"));
  writeAdapter(path.join(dir, "elsewhere"));
  outsideRun = await addRun("succeeded", path.join(dir, "elsewhere"));
  fs.mkdirSync(path.join(runsDir, "run-empty"), { recursive: true });
  noFilesRun = await addRun("succeeded", path.join(runsDir, "run-empty"));
});
afterAll(() => env.cleanup());

const queued = async () => db().job.count({ where: { kind: { in: ["eval", "export"] } } });

describe("adapter runs", () => {
  it("lists only succeeded runs whose adapter is inside the runs root", async () => {
    const runs = await adapterRuns.listAdapterRuns(runsDir);
    expect(runs.map((r) => r.id)).toEqual([goodRun]);
    expect(runs[0]!.adapterDir).toBe(fs.realpathSync(path.join(runsDir, "run-good")));
  });
  it("explains why a run cannot be used", async () => {
    await expect(adapterRuns.resolveAdapterRun(runsDir, failedRun)).rejects.toThrow("has not finished successfully");
    await expect(adapterRuns.resolveAdapterRun(runsDir, outsideRun)).rejects.toThrow("no LoRA adapter");
    await expect(adapterRuns.resolveAdapterRun(runsDir, noFilesRun)).rejects.toThrow("no LoRA adapter");
    await expect(adapterRuns.resolveAdapterRun(runsDir, 99999)).rejects.toThrow("does not exist");
  });
  it("refuses a symlink that leads outside the runs root", async () => {
    fs.symlinkSync(path.join(dir, "elsewhere"), path.join(runsDir, "run-link"));
    const id = await addRun("succeeded", path.join(runsDir, "run-link"));
    await expect(adapterRuns.resolveAdapterRun(runsDir, id)).rejects.toThrow("no LoRA adapter");
  });
});

describe("createEval", () => {
  const good = () => ({ model_name_or_path: "tiny", dataset: ["identity"], adapter_run: String(goodRun), max_samples: "4" });

  it.each([
    [{ batch_size: "0" }, "batch_size", "batch size must be ≥ 1"],
    [{ top_p: "abc" }, "top_p", "top-p must be a number"],
    [{ temperature: "9" }, "temperature", "temperature must be ≤ 5"],
    [{ dataset: [] }, "dataset", "choose at least one dataset"],
    [{ dataset: ["nope"] }, "dataset", "nope"],
    [{ model_name_or_path: "../../etc" }, "model_name_or_path", "inside the model roots"],
    [{ adapter_run: "abc" }, "adapter_run", "choose a finished run"],
  ])("refuses %o at %s", async (patch, field, message) => {
    const before = await queued();
    const r = await createEval({ ...good(), ...patch });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fieldErrors[field]).toContain(message);
    expect(await queued()).toBe(before);
  });
  it("refuses an adapter of a failed run at its field", async () => {
    const r = await createEval({ ...good(), adapter_run: String(failedRun) });
    expect(!r.ok && r.fieldErrors.adapter_run).toContain("has not finished successfully");
  });
  it("answers in Chinese when the UI is in Chinese, naming the field as the form does", async () => {
    const zh = async (patch: Record<string, unknown>) => {
      const r = await createEval({ ...good(), ...patch }, "zh");
      return r.ok ? {} : r.fieldErrors;
    };
    expect((await zh({ temperature: "9" })).temperature).toBe("温度必须 ≤ 5");
    expect((await zh({ batch_size: "0" })).batch_size).toBe("批大小必须 ≥ 1");
    expect((await zh({ adapter_run: String(failedRun) })).adapter_run).toMatch(new RegExp(`^运行 ${failedRun} 未成功完成`));
  });
  it("queues an eval job with resolved paths and LlamaBoard's defaults", async () => {
    const r = await createEval(good());
    expect(r.ok).toBe(true);
    const job = await db().job.findUniqueOrThrow({ where: { id: r.ok ? r.id : -1 } });
    expect(job).toMatchObject({ kind: "eval", status: "queued", datasets: "identity" });
    const config = JSON.parse(job.config);
    expect(config).toMatchObject({
      adapter_path: fs.realpathSync(path.join(runsDir, "run-good")),
      adapter_run: goodRun,
      model_name_or_path: fs.realpathSync(path.join(modelsDir, "tiny")),
      cutoff_len: 1024,
      batch_size: 2,
      max_new_tokens: 512,
      top_p: 0.7,
      temperature: 0.95,
      do_sample: false,
      max_samples: 4,
    });
  });
});

describe("createExport", () => {
  const good = (dirName: string) => ({ model_name_or_path: "tiny", adapter_run: String(goodRun), export_dir: dirName, max_shard_size_mb: "64" });

  it.each([["../escape"], ["/abs"], ["a/../../b"], ["."], ["a//b"], ["sp ace"]])("refuses export folder %s", async (bad) => {
    const r = await createExport(good(bad));
    expect(!r.ok && r.fieldErrors.export_dir).toBeTruthy();
  });
  it("refuses a symlink out of the export root and a folder that is not empty", async () => {
    fs.mkdirSync(exportsDir, { recursive: true });
    fs.symlinkSync(dir, path.join(exportsDir, "link"));
    expect(await createExport(good("link/x"))).toMatchObject({ ok: false, fieldErrors: { export_dir: expect.stringContaining("export root") } });
    fs.mkdirSync(path.join(exportsDir, "full"));
    fs.writeFileSync(path.join(exportsDir, "full", "keep"), "x");
    expect(await createExport(good("full"))).toMatchObject({ ok: false, fieldErrors: { export_dir: expect.stringContaining("not empty") } });
    expect(await createExport({ ...good("ok"), max_shard_size_mb: "0" })).toMatchObject({ ok: false, fieldErrors: { max_shard_size_mb: expect.any(String) } });
  });
  it("answers in Chinese when the UI is in Chinese", async () => {
    expect(await createExport(good(""), "zh")).toMatchObject({ ok: false, fieldErrors: { export_dir: "请填写导出文件夹名" } });
    expect(await createExport(good("full"), "zh")).toMatchObject({ ok: false, fieldErrors: { export_dir: "导出根目录中已存在 full，且不为空" } });
  });
  it("queues an export job into the export root", async () => {
    const r = await createExport(good("merged/v1"));
    const job = await db().job.findUniqueOrThrow({ where: { id: r.ok ? r.id : -1 } });
    expect(job.kind).toBe("export");
    expect(JSON.parse(job.config)).toMatchObject({
      export_dir: path.join(fs.realpathSync(exportsDir), "merged", "v1"),
      max_shard_size_mb: 64,
      export_dtype: "auto",
      adapter_path: fs.realpathSync(path.join(runsDir, "run-good")),
    });
  });

  it("queues a GGUF export with the model card facts of the adapter's run", async () => {
    await db().job.update({
      where: { id: goodRun },
      data: { config: JSON.stringify({ dataset: ["identity"], finetuning_type: "lora", template: "llama3", learning_rate: 0.01, lora_rank: 8 }), finalLoss: 0.25 },
    });
    // An evaluation of the run's adapter: its metrics go into the card.
    const evalResult = {
      metrics: { eval_loss: 1.5, perplexity: 4.48, eval_tokens: 10, num_samples: 2, num_predicted: 2, "predict_bleu-4": 50.5, runtime_s: 1 },
      predictions: [],
      files: { predictions: "p.jsonl", metrics: "m.json" },
      adapter_path: null,
      device: "cpu",
    };
    await db().job.create({
      data: { kind: "eval", name: "ev", status: "succeeded", config: JSON.stringify({ adapter_run: goodRun }), modelPath: "m", datasets: "", result: JSON.stringify(evalResult) },
    });
    expect(await createExport({ ...good("g1"), format: "gguf", gguf_type: "q2_k" })).toMatchObject({ ok: false, fieldErrors: { gguf_type: "unknown GGUF type" } });
    expect(await createExport({ ...good("g1"), format: "onnx" }, "zh")).toMatchObject({ ok: false, fieldErrors: { format: "未知的导出格式" } });
    const r = await createExport({ ...good("g1"), format: "gguf", gguf_type: "q4_k_m" });
    const job = await db().job.findUniqueOrThrow({ where: { id: r.ok ? r.id : -1 } });
    expect(JSON.parse(job.config)).toMatchObject({
      format: "gguf",
      gguf_type: "q4_k_m",
      card: {
        run_name: "run-succeeded",
        base_model: "tiny",
        datasets: ["identity"],
        method: "lora",
        template: "llama3",
        hyperparameters: { learning_rate: 0.01, lora_rank: 8 },
        final_train_loss: 0.25,
        eval_metrics: { eval_loss: 1.5, perplexity: 4.48, "predict_bleu-4": 50.5 },
      },
    });
  });
});

describe("tarStream", () => {
  it("writes an archive the system tar reads back byte for byte", async () => {
    const src = path.join(runsDir, "run-good");
    const names = ["adapter_config.json", "adapter_model.safetensors"];
    const chunks: Uint8Array[] = [];
    const reader = tarStream(names.map((n) => ({ name: `run-1-adapter/${n}`, path: path.join(src, n) }))).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    const archive = path.join(dir, "a.tar");
    fs.writeFileSync(archive, Buffer.concat(chunks));
    expect(fs.statSync(archive).size % 512).toBe(0);
    const out = path.join(dir, "untarred");
    fs.mkdirSync(out);
    expect(execFileSync("tar", ["-tf", archive], { encoding: "utf8" }).trim().split("\n")).toEqual(names.map((n) => `run-1-adapter/${n}`));
    execFileSync("tar", ["-xf", archive, "-C", out]);
    for (const n of names) expect(fs.readFileSync(path.join(out, "run-1-adapter", n)).equals(fs.readFileSync(path.join(src, n)))).toBe(true);
  });
});
