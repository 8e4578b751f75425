// Evaluate & Predict, Export and the adapter download in a real Chromium against the real server
// and worker: one tiny LoRA run on the demo model (queued through the runs API), then an
// evaluation of it (metrics + predictions table, JSONL on disk), a merged export (a Hugging Face
// folder on disk) and the adapter as a .tar.
import fs from "node:fs";
import path from "node:path";
import { ensureDataset, tickOnlyEvalDataset } from "./helpers/fixtures";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "./helpers/test";
import { createTinyRun, waitForAdapter } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const ART = path.resolve("e2e/.artifacts");
let runId = 0;

/** Entries of an uncompressed ustar archive: name -> bytes. */
function untar(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(header.subarray(124, 136).toString("ascii").replace(/\0.*$/s, "").trim(), 8);
    out.set(name, buf.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

async function waitForJob(page: Page, id: number) {
  const card = page.getByTestId(`task-job-${id}`);
  await expect(card.getByTestId("run-status")).toHaveText("succeeded", { timeout: 300_000 });
  return card;
}

// A 2-step run on the bundled identity dataset: enough for a real adapter, fast on a shared CPU.
test("a tiny LoRA run provides the adapter", async ({ page }) => {
  test.setTimeout(6 * 60_000);
  runId = await createTinyRun(page, "e2e-evaluate-adapter", { dataset: ["identity"], max_steps: 2, learning_rate: 0.01 });
  await waitForAdapter(page, runId);
});

test("evaluate: bad input is refused at the field; the run's adapter is scored", async ({ page }) => {
  test.setTimeout(6 * 60_000);
  // Scored on a filled copy: the identity template itself holds placeholders and is not selectable.
  const dataset = await ensureDataset(page);
  await page.goto("/evaluate");
  await expect(page.getByRole("link", { name: "Evaluate & Predict" })).toHaveAttribute("aria-current", "page");

  const form = page.getByRole("form", { name: "Evaluate & Predict" });
  await form.getByLabel("Adapter (finished run)").selectOption(String(runId));
  await expect(form.locator("#model_name_or_path")).toHaveValue(/tuneboard-demo$/);
  // The option names the run by its number among runs ("#2 name"); the value is its id.
  const runNumber = /^#(\d+) /.exec((await form.getByLabel("Adapter (finished run)").locator("option:checked").textContent()) ?? "")![1];
  await form.getByLabel("Batch size").fill("0");
  await form.getByLabel("Top-p").fill("abc");
  await form.getByRole("button", { name: "Start evaluation" }).click();
  await expect(page.getByTestId("error-batch_size")).toContainText("batch size must be ≥ 1");
  await expect(page.getByTestId("error-top_p")).toContainText("top-p must be a number");

  await form.getByLabel("Batch size").fill("2");
  await form.getByLabel("Top-p").fill("0.7");
  await form.getByLabel("Max samples").fill("4");
  await form.getByLabel("Max new tokens").fill("12");
  await tickOnlyEvalDataset(page, dataset);
  await expect(page.getByTestId("eval-dataset-identity").getByRole("checkbox")).not.toBeChecked();
  await form.getByRole("button", { name: "Start evaluation" }).click();
  await page.waitForURL(/\/evaluate\?tab=eval&job=\d+$/);
  const jobId = Number(new URL(page.url()).searchParams.get("job"));

  const card = await waitForJob(page, jobId);
  const metrics = card.getByTestId("eval-metrics");
  for (const key of ["eval_loss", "perplexity", "bleu-4", "rouge-1", "rouge-2", "rouge-l"]) {
    await expect(metrics.locator(`tr[data-metric="${key}"] td`)).toHaveText(/^\d+\.\d{4}$/);
  }
  await expect(metrics).toContainText("BLEU-4");
  await expect(metrics).toContainText("Perplexity");
  const loss = Number(await metrics.locator('tr[data-metric="eval_loss"] td').textContent());
  const ppl = Number(await metrics.locator('tr[data-metric="perplexity"] td').textContent());
  expect(Math.abs(Math.exp(loss) - ppl) / ppl).toBeLessThan(1e-3);

  const preds = card.getByTestId("eval-predictions");
  await expect(preds.locator("tbody tr")).toHaveCount(4);
  await expect(preds.locator("thead")).toContainText("Reference");
  await expect(card).toContainText(`Adapter: #${runNumber}`);

  // The predictions and metrics are on disk, in the job's folder under the runs root.
  const dir = path.join(ART, "runs", `eval-${jobId}`);
  const lines = fs.readFileSync(path.join(dir, "generated_predictions.jsonl"), "utf8").trim().split("\n");
  expect(lines).toHaveLength(4);
  const first = JSON.parse(lines[0]!);
  expect(Object.keys(first)).toEqual(expect.arrayContaining(["prompt", "predict", "label", "bleu-4", "rouge-l"]));
  expect(JSON.parse(fs.readFileSync(path.join(dir, "metrics.json"), "utf8")).eval_loss).toBeCloseTo(loss, 3);

  // The base model alone (no adapter), loss only: a different loss, no BLEU/ROUGE.
  await page.goto("/evaluate");
  const baseForm = page.getByRole("form", { name: "Evaluate & Predict" });
  await baseForm.getByLabel("Adapter (finished run)").selectOption("");
  await baseForm.getByLabel("Max samples").fill("4");
  await baseForm.getByLabel("Generate predictions (BLEU / ROUGE)").uncheck();
  await baseForm.getByRole("button", { name: "Start evaluation" }).click();
  await page.waitForURL(/\/evaluate\?tab=eval&job=\d+$/);
  const baseJob = Number(new URL(page.url()).searchParams.get("job"));
  const baseCard = await waitForJob(page, baseJob);
  await expect(baseCard).toContainText("Adapter: base model");
  const baseLoss = Number(await baseCard.locator('[data-testid="eval-metrics"] tr[data-metric="eval_loss"] td').textContent());
  expect(Math.abs(baseLoss - loss)).toBeGreaterThan(1e-3);
  await expect(baseCard.locator('tr[data-metric="bleu-4"] td')).toHaveText("—");
  await expect(baseCard.getByTestId("eval-predictions")).toHaveCount(0);

  if (process.env.TUNEBOARD_SCREENSHOTS === "1") {
    await page.goto(`/evaluate?tab=eval&job=${jobId}`);
    const card = page.getByTestId(`task-job-${jobId}`);
    await page.setViewportSize({ width: 1280, height: 720 });
    await card.evaluate((el) => el.scrollIntoView({ block: "start" }));
    await page.screenshot({ path: "docs/screenshots/evaluate.png" });
  }
});

test("export: merges the adapter into a sharded Hugging Face folder", async ({ page }) => {
  test.setTimeout(6 * 60_000);
  await page.goto("/evaluate?tab=export");
  const form = page.getByRole("form", { name: "Export" });
  await form.getByLabel("Adapter (finished run)").selectOption(String(runId));
  await expect(form.getByLabel("Export folder")).toHaveValue(`run-${runId}-merged`);

  await form.getByLabel("Export folder").fill("../escape");
  await form.getByRole("button", { name: "Start export" }).click();
  await expect(page.getByTestId("error-export_dir")).toContainText("a folder name inside the export root");

  const folder = `e2e-${runId}-${Date.now()}`;
  await form.getByLabel("Export folder").fill(folder);
  await form.getByLabel("Max shard size (MiB)").fill("16");
  await form.getByRole("button", { name: "Start export" }).click();
  await page.waitForURL(/\/evaluate\?tab=export&job=\d+$/);
  const jobId = Number(new URL(page.url()).searchParams.get("job"));
  const card = await waitForJob(page, jobId);

  const dir = path.join(ART, "exports", folder);
  await expect(card.getByTestId("export-path")).toHaveText(fs.realpathSync(dir));
  const files = card.getByTestId("export-files");
  for (const f of ["config.json", "generation_config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"]) {
    await expect(files).toContainText(f);
    expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
  }
  // Sharded with an index that names every shard; no shard above 16 MiB unless it holds one tensor.
  const index = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"));
  const shards = [...new Set(Object.values(index.weight_map as Record<string, string>))].sort();
  expect(shards.length).toBeGreaterThan(1);
  for (const s of shards) {
    expect(fs.existsSync(path.join(dir, s)), s).toBe(true);
    const tensors = Object.entries(index.weight_map as Record<string, string>).filter(([, f]) => f === s).length;
    if (tensors > 1) expect(fs.statSync(path.join(dir, s)).size).toBeLessThanOrEqual(16 * 1024 ** 2 + 64 * 1024);
  }
  expect(Object.keys(index.weight_map).some((k) => k.includes("lora_"))).toBe(false);

  // The same folder again is refused at the field: nothing is overwritten.
  await page.goto("/evaluate?tab=export");
  await page.getByRole("form", { name: "Export" }).getByLabel("Export folder").fill(folder);
  await page.getByRole("form", { name: "Export" }).getByRole("button", { name: "Start export" }).click();
  await expect(page.getByTestId("error-export_dir")).toContainText("already exists");
});

test("adapter download: a .tar with the two adapter files", async ({ page, request }) => {
  await page.goto("/evaluate?tab=export");
  const link = page.getByTestId(`adapter-download-${runId}`);
  await expect(link).toHaveAttribute("href", `/api/runs/${runId}/adapter`);
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  expect(download.suggestedFilename()).toBe(`run-${runId}-adapter.tar`);

  const res = await request.get(`/api/runs/${runId}/adapter`);
  expect(res.headers()["content-type"]).toBe("application/x-tar");
  const entries = untar(await res.body());
  const runDir = path.join(ART, "runs", `run-${runId}`);
  expect([...entries.keys()].sort()).toEqual([`run-${runId}-adapter/adapter_config.json`, `run-${runId}-adapter/adapter_model.safetensors`]);
  for (const f of ["adapter_config.json", "adapter_model.safetensors"]) {
    expect(entries.get(`run-${runId}-adapter/${f}`)!.equals(fs.readFileSync(path.join(runDir, f))), f).toBe(true);
  }
  expect((await request.get("/api/runs/abc/adapter")).status()).toBe(400);
  expect((await request.get("/api/runs/999999/adapter")).status()).toBe(404);
});

test("both sections pass axe and read in Chinese", async ({ page, context, baseURL }) => {
  for (const tab of ["eval", "export"]) {
    await page.goto(`/evaluate?tab=${tab}`);
    const { violations } = await new AxeBuilder({ page }).analyze();
    expect(violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
  }
  await context.addCookies([{ name: "tb_locale", value: "zh", url: baseURL! }]);
  await page.goto("/evaluate?tab=export");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("评估与导出");
  await expect(page.getByRole("form", { name: "导出" }).getByRole("button", { name: "开始导出" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "下载适配器" })).toBeVisible();
});
