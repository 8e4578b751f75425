// The Train page in a real Chromium against the real server and worker: model details, Show
// command, saved configurations, clone a run, and the Chinese UI.
import fs from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "./helpers/test";
import { ensureDataset, shownRunNumber } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const stamp = Date.now().toString(36);

test.beforeAll(async ({ browser }) => {
  const page = await browser.newPage();
  await ensureDataset(page);
  await page.close();
});

/** axe-core on the page as it is now (the states pages.spec.ts does not reach): no serious or critical violation. */
async function expectAccessible(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`)).toEqual([]);
}

async function openTrain(page: Page, query = "") {
  await page.goto(`/train${query}`);
  await expect(page.getByRole("button", { name: "Start" })).toBeEnabled();
}

test("model picker: the demo model's architecture, parameter count, context length and template", async ({ page }) => {
  await openTrain(page);
  await expect(page.getByLabel("Model picker")).toHaveValue(/tuneboard-demo$/);
  const details = page.getByTestId("model-details");
  await expect(details.getByTestId("model-architecture")).toHaveText("LlamaForCausalLM");
  // 128256×128 tied embeddings + 4 blocks + final norm, read from the safetensors header.
  await expect(details.getByTestId("model-params")).toContainText("17.2M");
  await expect(details.getByTestId("model-params")).toContainText("17,208,448");
  await expect(details.getByTestId("model-params")).toContainText("safetensors");
  await expect(details.getByTestId("model-layers")).toHaveText("4");
  await expect(details.getByTestId("model-context")).toHaveText("2,048");
  await expect(details.getByTestId("model-template")).toContainText("llama3");
  await expect(page.locator("#template")).toHaveValue("llama3");

  // The memory estimate follows the form and says it is an estimate.
  const estimate = page.getByTestId("memory-estimate");
  await expect(estimate).toContainText("estimate");
  const before = await page.getByTestId("memory-activations").textContent();
  await page.getByLabel("Batch size").fill("8");
  await expect(page.getByTestId("memory-activations")).not.toHaveText(before ?? "");
  await expect(page.getByTestId("memory-total")).toContainText("GiB");
});

test("Show command: the trainer CLI call and the JSON config it reads", async ({ page }) => {
  await openTrain(page);
  await page.getByLabel("Learning rate").fill("0.003");
  await page.getByRole("button", { name: "Show command" }).click();
  const cli = page.getByTestId("command-cli");
  await expect(cli).toContainText("PYTHONPATH=worker/trainer");
  await expect(cli).toContainText("-m tuneboard_trainer train --config");
  await expect(cli).toContainText("tuneboard_config.json");
  const config = JSON.parse((await page.getByTestId("command-config").textContent()) ?? "{}") as Record<string, unknown>;
  expect(config.learning_rate).toBe(0.003);
  expect(String(config.model_name_or_path)).toMatch(/tuneboard-demo$/);
  expect(config.template).toBe("llama3");
  expect(config.dataset_dir).toBeTruthy();
  expect(config.output_dir).toBeTruthy();
  expect(config).not.toHaveProperty("name");

  // It follows the form; an invalid value shows the error instead of a command.
  await page.getByLabel("Learning rate").fill("abc");
  await expect(page.getByTestId("command-invalid")).toContainText("learning rate must be a number");
  await page.getByRole("button", { name: "Hide command" }).click();
  await expect(page.getByTestId("command-invalid")).toBeHidden();
});

test("GPUs: 2 GPUs show the global batch, the torchrun command, and a run that waits for a 2-GPU worker", async ({ page }) => {
  const name = `e2e-2gpus-${stamp}`;
  await openTrain(page);
  await page.getByLabel("Run name (optional)").fill(name);
  await page.getByLabel("Batch size").fill("2");
  await page.getByLabel("Gradient accumulation").fill("4");
  await expect(page.getByTestId("global-batch")).toHaveText("Global batch: 2 × 4 = 8 samples per optimizer step.");
  await expect(page.getByTestId("gpus-warning")).toBeHidden();
  await page.getByLabel("GPUs", { exact: true }).fill("2");
  await expect(page.getByTestId("global-batch")).toHaveText("Global batch: 2 × 4 × 2 GPUs = 16 samples per optimizer step.");
  // The e2e worker advertises no GPU (no nvidia-smi here): a warning, not an error.
  await expect(page.getByTestId("gpus-warning")).toContainText("No worker has 2 GPU(s) yet: the run will wait in the queue");
  await expectAccessible(page);
  if (process.env.TUNEBOARD_SCREENSHOTS === "1") {
    const dir = path.join(process.cwd(), "docs", "screenshots");
    fs.mkdirSync(dir, { recursive: true });
    await page.locator("section[aria-labelledby=section-basic]").screenshot({ path: path.join(dir, "train-gpus.png") });
  }

  await page.getByRole("button", { name: "Show command" }).click();
  const cli = page.getByTestId("command-cli");
  await expect(cli).toContainText("CUDA_VISIBLE_DEVICES=0,1 PYTHONPATH=worker/trainer");
  await expect(cli).toContainText("-m torch.distributed.run --standalone --nnodes 1 --nproc-per-node 2 -m tuneboard_trainer train --config");
  const config = JSON.parse((await page.getByTestId("command-config").textContent()) ?? "{}") as Record<string, unknown>;
  expect(config).not.toHaveProperty("num_gpus"); // the queue's setting; the trainer refuses unknown fields
  await page.getByLabel("GPUs", { exact: true }).fill("99");
  await expect(page.getByTestId("command-invalid")).toContainText("GPUs must be ≤ 64");
  await page.getByLabel("GPUs", { exact: true }).fill("2");

  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const id = Number(new URL(page.url()).pathname.split("/").at(-1));
  try {
    await expect(page.getByTestId("run-gpus")).toHaveText("· 2 GPUs");
    await page.goto("/runs");
    await expect(page.getByTestId(`gpus-${id}`)).toHaveText("· 2 GPUs");
    await expectAccessible(page);
    // No worker here can take it: it stays queued.
    await page.waitForTimeout(2000);
    await expect(page.getByTestId(`status-${id}`)).toHaveText("queued");
    // Clone carries the GPUs.
    await openTrain(page, `?from=${id}`);
    await expect(page.getByLabel("GPUs", { exact: true })).toHaveValue("2");
  } finally {
    // Leave no queued job behind for the other specs.
    expect((await page.request.post(`/api/jobs/${id}/cancel`)).ok()).toBe(true);
    expect((await page.request.delete(`/api/runs/${id}`)).ok()).toBe(true);
  }
});

test("save a configuration by name and load it back", async ({ page }) => {
  const name = `e2e-config-${stamp}`;
  await openTrain(page);
  await page.getByLabel("Learning rate").fill("0.02");
  await page.getByLabel("Epochs").fill("2");
  await page.locator("#finetuning_type").selectOption("freeze");
  await page.getByLabel("Trainable layers").fill("3");
  await page.getByLabel("GPUs", { exact: true }).fill("4");
  await page.getByLabel("Configuration name").fill(name);
  await page.getByRole("button", { name: "Save configuration" }).click();
  await expect(page.getByTestId("saved-status")).toHaveText(`Saved "${name}".`);

  // A fresh page has the defaults again; Load restores every saved field.
  await openTrain(page);
  await expect(page.getByLabel("Learning rate")).not.toHaveValue("0.02");
  await page.getByLabel("Saved configuration", { exact: true }).selectOption(name);
  await page.getByRole("button", { name: "Load", exact: true }).click();
  await expect(page.getByTestId("saved-status")).toHaveText(`Loaded "${name}".`);
  await expect(page.getByLabel("Learning rate")).toHaveValue("0.02");
  await expect(page.getByLabel("Epochs")).toHaveValue("2");
  await expect(page.locator("#finetuning_type")).toHaveValue("freeze");
  await expect(page.getByLabel("Trainable layers")).toHaveValue("3");
  await expect(page.getByLabel("GPUs", { exact: true })).toHaveValue("4");

  // A bad value is refused at its field, and nothing is saved.
  await page.getByLabel("Learning rate").fill("0");
  await page.getByRole("button", { name: "Save configuration" }).click();
  await expect(page.getByTestId("error-learning_rate")).toContainText("learning rate must be > 0");
  await expect(page.getByTestId("saved-status")).toHaveText("Not saved: fix the marked fields first.");
});

test("clone a run: /train?from=<id> prefills its values; Start queues a new run", async ({ page }) => {
  test.setTimeout(4 * 60_000);
  const source = `e2e-clone-src-${stamp}`;
  await openTrain(page);
  await page.getByLabel("Run name (optional)").fill(source);
  await page.getByLabel("Learning rate").fill("0.004");
  await page.getByLabel("Cutoff length").fill("64");
  await page.getByText("Advanced").click();
  await page.getByLabel("Max steps").fill("1");
  await page.getByLabel("Seed").fill("7");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const sourceId = Number(new URL(page.url()).pathname.split("/").at(-1));
  const sourceNumber = await shownRunNumber(page);

  await openTrain(page, `?from=${sourceId}`);
  await expect(page.getByTestId("clone-note")).toContainText(`Prefilled from run #${sourceNumber} (${source}).`);
  await expect(page.getByLabel("Run name (optional)")).toHaveValue(`${source} (copy)`);
  await expect(page.getByLabel("Learning rate")).toHaveValue("0.004");
  await expect(page.getByLabel("Cutoff length")).toHaveValue("64");
  await expect(page.getByLabel("Max steps")).toHaveValue("1");
  await expect(page.getByLabel("Seed")).toHaveValue("7");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const cloneId = Number(new URL(page.url()).pathname.split("/").at(-1));
  expect(cloneId).toBeGreaterThan(sourceId);

  await page.goto("/runs");
  await expect(page.getByRole("link", { name: `${source} (copy)` })).toBeVisible();
  await page.goto(`/runs/${cloneId}`);
  await expect(page.getByTestId("run-status")).toBeVisible();
});

test("switch to Chinese: the nav, the Train labels and the validation errors change, and the choice survives a reload", async ({ page }) => {
  await openTrain(page);
  const nav = page.getByRole("navigation");
  await expect(nav.getByRole("link", { name: "Runs" })).toBeVisible();
  await page.getByTestId("locale-switch").selectOption("zh");
  await expect(nav.getByRole("link", { name: "运行记录" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "训练", exact: true })).toBeVisible();
  await expect(page.getByLabel("学习率", { exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "开始" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "zh-CN");

  await page.reload();
  await expect(nav.getByRole("link", { name: "运行记录" })).toBeVisible();
  await expect(page.getByLabel("学习率", { exact: true })).toBeVisible();
  await expect(page.getByText("显存估算")).toBeVisible();

  // Validation answers in Chinese too, naming the field as its label does: the command preview
  // (parsed in the browser) and Start (parsed by the server action); nothing is queued.
  await page.getByLabel("学习率", { exact: true }).fill("0");
  await page.getByRole("button", { name: "显示命令" }).click();
  await expect(page.getByTestId("command-invalid")).toContainText("学习率必须 > 0");
  await page.getByRole("button", { name: "开始" }).click();
  await expect(page.getByTestId("error-learning_rate")).toHaveText("学习率必须 > 0");
  await expect(page.getByLabel("学习率", { exact: true })).toHaveAttribute("aria-invalid", "true");
  await expect(page).toHaveURL(/\/train/);

  await page.getByTestId("locale-switch").selectOption("en");
  await expect(page.getByLabel("Learning rate")).toBeVisible();
});

test("a browser whose language is Chinese gets the Chinese UI by default", async ({ browser }) => {
  const context = await browser.newContext({ locale: "zh-CN" });
  const page = await context.newPage();
  await page.goto("/train");
  await expect(page.getByRole("navigation").getByRole("link", { name: "训练" })).toBeVisible();
  await expect(page.getByLabel("学习率", { exact: true })).toBeVisible();
  await expect(page.getByTestId("locale-switch")).toHaveValue("zh");
  await context.close();
});
