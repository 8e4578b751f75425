// The run lifecycle in a real Chromium against the real server and worker: Continue training on a
// finished run queues a linked run that starts where the first ended (one joined loss curve), and
// early stopping ends a run on its eval loss with the reason shown. Tiny demo-model runs: the
// first 8 records of the identity dataset, a step takes a fraction of a second on the CPU.
import { expect, test, type APIRequestContext, type Page } from "./helpers/test";
import { ensureDataset, queueRun, shownRunNumber } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const stamp = Date.now().toString(36);

const BASE = {
  model_name_or_path: "tuneboard-demo",
  template: "llama3",
  finetuning_type: "lora",
  learning_rate: 0.01,
  max_samples: 8,
  cutoff_len: 96,
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 2,
  lr_scheduler_type: "constant",
  warmup_steps: 0,
  max_grad_norm: 1,
  logging_steps: 1,
  save_steps: 0,
  lora_rank: 8,
  lora_alpha: 16,
  lora_dropout: 0,
  lora_target: "all",
  seed: 42,
};

async function dbRun(request: APIRequestContext, id: number) {
  const res = await request.get(`/api/runs/${id}`);
  expect(res.ok()).toBe(true);
  return (await res.json()) as { job: { status: string }; points: { step: number }[] };
}

async function chartSteps(page: Page): Promise<number[]> {
  const attr = (await page.getByTestId("loss-chart").getAttribute("data-steps")) ?? "";
  return attr ? attr.split(",").map(Number) : [];
}

let dataset = "";
test.beforeAll(async ({ browser }) => {
  const page = await browser.newPage();
  dataset = await ensureDataset(page);
  await page.close();
});

test("continue training: the new run starts where the first ended, on one joined curve", async ({ page, request }) => {
  test.setTimeout(4 * 60_000);
  // 8 records, batch 2 × accumulation 2: 2 steps per epoch; 2 epochs end at step 4.
  const firstId = await queueRun(request, { ...BASE, dataset: [dataset], name: `lifecycle-first-${stamp}`, num_train_epochs: 2 });
  await expect.poll(async () => (await dbRun(request, firstId)).job.status, { timeout: 150_000 }).toBe("succeeded");
  const firstSteps = (await dbRun(request, firstId)).points.map((p) => p.step);
  expect(firstSteps).toEqual([1, 2, 3, 4]);

  await page.goto(`/runs/${firstId}`);
  const firstNumber = await shownRunNumber(page);
  await page.getByTestId("continue-training").click();
  const epochs = page.getByLabel("More epochs");
  // A bad value is refused at the field, and nothing is queued.
  await epochs.fill("0");
  await page.getByTestId("continue-submit").click();
  await expect(page.getByTestId("error-num_train_epochs")).toHaveText("epochs must be > 0");
  await epochs.fill("1");
  await page.getByTestId("continue-submit").click();
  await page.waitForURL((url) => /^\/runs\/\d+$/.test(url.pathname) && url.pathname !== `/runs/${firstId}`);
  const childId = Number(new URL(page.url()).pathname.split("/").at(-1));
  expect(childId).toBeGreaterThan(firstId);
  await expect(page.getByTestId("continued-from")).toHaveAttribute("data-run", String(firstId));
  await expect(page.getByTestId("continued-from")).toContainText(`Continued from Run #${firstNumber}`);
  const childNumber = await shownRunNumber(page);
  expect(childNumber).toBeGreaterThan(firstNumber);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 150_000 });

  // The step counter carried on: the child logged steps 5 and 6 only (one more epoch).
  expect((await dbRun(request, childId)).points.map((p) => p.step)).toEqual([5, 6]);
  // One curve: the parent's points, then the child's.
  await expect.poll(() => chartSteps(page)).toEqual([1, 2, 3, 4, 5, 6]);
  await expect(page.getByTestId("run-log")).toContainText("weights, optimizer, scheduler and RNG restored");

  // The parent links to its continuation.
  await page.goto(`/runs/${firstId}`);
  await expect(page.getByTestId("continued-as")).toHaveAttribute("data-run", String(childId));
  await expect(page.getByTestId("continued-as")).toContainText(`Continued as Run #${childNumber}`);
  await expect.poll(() => chartSteps(page)).toEqual([1, 2, 3, 4]);
});

test("early stopping: a run stops when the eval loss stops improving, says why, and keeps the best adapter", async ({ page, request }) => {
  test.setTimeout(4 * 60_000);
  // 2 of 8 records held out, batch 2 × accumulation 1: 3 steps per epoch, an evaluation after each.
  // No evaluation improves on the first by 10, so with patience 2 the run stops at step 3 of 30.
  const id = await queueRun(request, {
    ...BASE,
    dataset: [dataset],
    name: `lifecycle-early-${stamp}`,
    num_train_epochs: 10,
    gradient_accumulation_steps: 1,
    val_size: 2,
    eval_steps: 1,
    early_stopping_patience: 2,
    early_stopping_min_delta: 10,
  });
  await page.goto(`/runs/${id}`);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 150_000 });
  await page.reload();
  await expect(page.getByTestId("stopped-early")).toHaveText(
    /^Stopped early: eval loss did not improve by 10 for 2 evaluations \(best \d+\.\d{3} at step 1\)\. The saved adapter holds the weights of step 1, the best evaluation\.$/,
  );
  expect((await dbRun(request, id)).points.map((p) => p.step)).toEqual([1, 2, 3]);
});

test("early stopping without a validation split is refused at the patience field of the Train form", async ({ page }) => {
  await page.goto("/train");
  await expect(page.getByRole("button", { name: "Start" })).toBeEnabled();
  await page.getByLabel("Validation size").fill("0");
  await page.getByLabel("Early stopping patience").fill("2");
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByTestId("error-early_stopping_patience")).toHaveText(
    "early stopping needs a validation split: set validation size above 0",
  );
  expect(new URL(page.url()).pathname).toBe("/train");
});
