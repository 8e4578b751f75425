// GGUF export from the Evaluate page in a real Chromium against the real server and worker: a tiny
// LoRA run on the demo model, then an export to one Q8_0 .gguf with progress, the file listed with
// its size and sha256 (checked against the file on disk) and the model card shown.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect, test } from "./helpers/test";
import { createTinyRun, waitForAdapter } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const ART = path.resolve("e2e/.artifacts");
let runId = 0;

test("a tiny LoRA run provides the adapter", async ({ page }) => {
  test.setTimeout(6 * 60_000);
  runId = await createTinyRun(page, "e2e-gguf-adapter", { dataset: ["identity"], max_steps: 2, learning_rate: 0.01 });
  await waitForAdapter(page, runId);
});

test("export to GGUF: progress, the file with size and sha256, the model card", async ({ page }) => {
  test.setTimeout(6 * 60_000);
  await page.goto("/evaluate?tab=export");
  const form = page.getByRole("form", { name: "Export" });
  await form.getByLabel("Adapter (finished run)").selectOption(String(runId));
  await form.getByLabel("Format").selectOption("gguf");
  // The Hugging Face fields give way to the GGUF type.
  await expect(form.getByLabel("Max shard size (MiB)")).toHaveCount(0);
  await form.getByLabel("GGUF type").selectOption("q8_0");
  const folder = `e2e-gguf-${runId}-${Date.now()}`;
  await form.getByLabel("Export folder").fill(folder);
  await form.getByRole("button", { name: "Start export" }).click();
  await page.waitForURL(/\/evaluate\?tab=export&job=\d+$/);
  const jobId = Number(new URL(page.url()).searchParams.get("job"));
  const card = page.getByTestId(`task-job-${jobId}`);
  await expect(card.getByTestId("run-status")).toHaveText("succeeded", { timeout: 300_000 });

  // Progress went tensor by tensor: 38 tensors in the demo model's file, plus the load stage.
  await expect(card.getByText("GGUF q8_0; tensors: Q8_0 ×25, F32 ×9, F16 ×4")).toBeVisible();
  await expect(card).toContainText("39 / 39");
  await card.getByText("Log").click();
  await expect(card).toContainText("[export] gguf");

  const dir = path.join(ART, "exports", folder);
  const file = path.join(dir, "model-q8_0.gguf");
  expect(fs.existsSync(file)).toBe(true);
  const sha = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  await expect(card.getByTestId("gguf-sha256")).toHaveText(sha);
  const mib = (fs.statSync(file).size / 1024 ** 2).toFixed(1);
  await expect(card.getByTestId("gguf-size")).toHaveText(`${mib} MiB`);
  const files = card.getByTestId("export-files");
  for (const f of ["model-q8_0.gguf", "Modelfile", "README.md"]) await expect(files).toContainText(f);
  expect(fs.readFileSync(path.join(dir, "Modelfile"), "utf8")).toContain("FROM ./model-q8_0.gguf");

  const modelCard = card.getByTestId("model-card");
  await expect(modelCard).toContainText("# e2e-gguf-adapter");
  await expect(modelCard).toContainText("| Datasets | identity |");
  await expect(modelCard).toContainText("| Method | lora |");
  await expect(modelCard).toContainText("| lora_rank | 8 |");
  expect(fs.readFileSync(path.join(dir, "README.md"), "utf8")).toContain("Fine-tuned from **tuneboard-demo**");
});
