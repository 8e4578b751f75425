// Runs, Run page and Compare in a real Chromium against the real server and worker: a socket
// dropped and restored mid-run leaves no gap in the chart; Abort then Resume continues from the
// last checkpoint and finishes; the curve is described in words; two runs are compared; a
// finished run is deleted after a confirmation. Two short demo-model runs are created through
// POST /api/runs (the same validation as the Train form) and reused by every test here.
import fs from "node:fs";
import { expect, test, type APIRequestContext, type Page } from "./helpers/test";
import AxeBuilder from "@axe-core/playwright";
import { queueRun } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const SHOTS = process.env.TUNEBOARD_SCREENSHOTS === "1";
const stamp = Date.now().toString(36);

// The demo model's own preset (data/models/tuneboard-demo/tuneboard.json), with small steps
// (batch 2 × accumulation 2, short cutoff) so a step takes a fraction of a second on the CPU.
const BASE = {
  model_name_or_path: "tuneboard-demo",
  template: "llama3",
  finetuning_type: "lora",
  dataset: ["identity"],
  learning_rate: 0.01,
  num_train_epochs: 10,
  max_samples: 100000,
  cutoff_len: 192,
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 2,
  lr_scheduler_type: "cosine",
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
const LONG_STEPS = 30;
const SHORT_STEPS = 6;

let longId = 0; // aborted, resumed, finished
let shortId = 0; // finished, compared, deleted

/** Steps logged in the database for a run (GET /api/runs/<id>). */
async function dbSteps(request: APIRequestContext, id: number): Promise<number[]> {
  const res = await request.get(`/api/runs/${id}`);
  expect(res.ok()).toBe(true);
  return ((await res.json()) as { points: { step: number }[] }).points.map((p) => p.step);
}

async function chartSteps(page: Page): Promise<number[]> {
  const attr = (await page.getByTestId("loss-chart").getAttribute("data-steps")) ?? "";
  return attr ? attr.split(",").map(Number) : [];
}

/** The number the Runs list shows for run `id` (its # column). */
async function listedRunNumber(page: Page, id: number): Promise<number> {
  return Number(await page.getByTestId(`run-row-${id}`).getByRole("cell").nth(1).textContent());
}

async function dbStatus(request: APIRequestContext, id: number): Promise<string> {
  const res = await request.get(`/api/runs/${id}`);
  return ((await res.json()) as { job: { status: string } }).job.status;
}

test("reconnect: a socket dropped and restored mid-run leaves no gap in the chart", async ({ page, request }) => {
  test.setTimeout(150_000);
  longId = await queueRun(request, { ...BASE, name: `runs-e2e-long-${stamp}`, max_steps: LONG_STEPS, save_steps: 3 });
  shortId = await queueRun(request, { ...BASE, name: `runs-e2e-short-${stamp}`, max_steps: SHORT_STEPS, learning_rate: 0.005 });

  await page.goto(`/runs/${longId}`);
  await expect(page.getByTestId("socket-state")).toHaveAttribute("data-connected", "true");
  await expect.poll(async () => (await chartSteps(page)).length, { timeout: 90_000 }).toBeGreaterThanOrEqual(1);

  // A running job cannot be deleted: refused with a clear message, nothing removed.
  const refused = await request.delete(`/api/runs/${longId}`);
  expect(refused.status()).toBe(409);
  expect(((await refused.json()) as { error: string }).error).toContain("abort it first");

  // Drop the socket (the page's single client socket, exposed by lib/realtime/client.ts).
  await page.evaluate(() => (window as unknown as { __tuneboardSocket: { disconnect(): void } }).__tuneboardSocket.disconnect());
  await expect(page.getByTestId("socket-state")).toHaveAttribute("data-connected", "false");
  const offline = await chartSteps(page);
  // The run goes on without us: wait until the database holds steps the page has not seen.
  let missed: number[] = [];
  await expect
    .poll(async () => {
      missed = (await dbSteps(request, longId)).filter((s) => !offline.includes(s));
      return missed.length;
    }, { timeout: 60_000 })
    .toBeGreaterThanOrEqual(2);
  expect(await chartSteps(page)).toEqual(offline); // really offline: nothing arrived meanwhile

  // Restore it: the page re-subscribes and merges the database snapshot.
  await page.evaluate(() => (window as unknown as { __tuneboardSocket: { connect(): void } }).__tuneboardSocket.connect());
  await expect(page.getByTestId("socket-state")).toHaveAttribute("data-connected", "true");
  await expect
    .poll(async () => {
      const steps = await chartSteps(page);
      return missed.every((s) => steps.includes(s));
    })
    .toBe(true);
  // No gap: every step from 1 to the newest one drawn is in the chart (logging_steps = 1).
  const steps = await chartSteps(page);
  expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
});

test("abort, then resume from the last checkpoint: the run continues and finishes", async ({ page, request }) => {
  test.setTimeout(200_000);
  await page.goto(`/runs/${longId}`);
  // Abort once a checkpoint exists (save_steps = 3).
  await expect(page.getByTestId("run-log")).toContainText("checkpoint at step 3", { timeout: 60_000 });
  await page.getByRole("button", { name: "Abort" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Abort run" }).click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "cancelled", { timeout: 20_000 });
  const before = await chartSteps(page);
  expect(before.length).toBeLessThan(LONG_STEPS);

  await page.reload(); // the checkpoint note is read on the server
  await expect(page.getByTestId("resume-note")).toContainText(/Continues from checkpoint-\d+/);
  await page.getByRole("button", { name: "Resume" }).click();
  await expect(page.getByTestId("run-status")).not.toHaveAttribute("data-status", "cancelled");
  await expect(page.getByTestId("run-log")).toContainText(/resuming from checkpoint-\d+/, { timeout: 120_000 });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 150_000 });

  // One continuous history, the same as the database's, to the last step.
  const db = await dbSteps(request, longId);
  expect(db).toEqual(Array.from({ length: LONG_STEPS }, (_, i) => i + 1));
  await expect.poll(() => chartSteps(page)).toEqual(db);
  await expect(page.getByTestId("download-adapter")).toHaveAttribute("href", `/api/runs/${longId}/adapter`);
});

test("the Run page says what the loss curve shows, and shows every chart", async ({ page, request }) => {
  test.setTimeout(120_000);
  await expect.poll(() => dbStatus(request, shortId), { timeout: 100_000 }).toBe("succeeded");
  await page.goto(`/runs/${longId}`);
  const health = page.getByTestId("loss-health");
  await expect(health).toContainText("What the curve says");
  await expect(health.locator("li").first()).toContainText(/loss|Loss/);
  expect(await health.getAttribute("data-kinds")).not.toContain("too_few");
  await expect(page.getByTestId("progress-steps")).toHaveText(`Step ${LONG_STEPS} / ${LONG_STEPS}`);
  await expect(page.getByTestId("chart-lr")).toHaveAttribute("data-points", String(LONG_STEPS));
  await expect(page.getByTestId("chart-grad-norm")).toHaveAttribute("data-points", String(LONG_STEPS));
  await expect(page.getByTestId("chart-tokens")).toHaveAttribute("data-points", String(LONG_STEPS));
  await expect(page.getByTestId("chart-gpu-mem")).toContainText("CPU"); // no GPU here: the note, not an empty chart
  if (SHOTS) await shot(page, "run.png");
  // The smoothing slider changes the smoothed line only; both lines stay drawn.
  await page.getByTestId("smoothing").fill("0.9");
  await expect(page.getByTestId("smoothing")).toHaveValue("0.9");
  await expect(page.getByTestId("loss-chart").locator(".recharts-line-curve")).toHaveCount(2);
  await expectAccessible(page);
});

test("compare two runs: both curves drawn and the differing settings listed", async ({ page }) => {
  await page.goto("/runs");
  await expect(page.getByTestId(`clone-${longId}`)).toHaveAttribute("href", `/train?from=${longId}`);
  if (SHOTS) await shot(page, "runs.png");
  await expectAccessible(page);
  await page.getByTestId(`select-${longId}`).check();
  await expect(page.getByTestId("compare-selected")).toBeDisabled(); // one is not a comparison
  await page.getByTestId(`select-${shortId}`).check();
  await page.getByTestId("compare-selected").click();
  await page.waitForURL(new RegExp(`/compare\\?ids=${longId}(%2C|,)${shortId}$`));

  await expect(page.getByTestId(`compare-series-${longId}`)).toHaveAttribute("data-points", String(LONG_STEPS));
  await expect(page.getByTestId(`compare-series-${shortId}`)).toHaveAttribute("data-points", String(SHORT_STEPS));
  await expect(page.getByTestId("compare-chart").locator(".recharts-line-curve")).toHaveCount(2);
  await expect(page.getByTestId("diff-learning_rate")).toContainText("0.005");
  await expect(page.getByTestId("diff-max_steps")).toContainText(String(LONG_STEPS));
  await expect(page.getByTestId("diff-save_steps")).toBeVisible();
  await expect(page.getByTestId("diff-lora_rank")).toHaveCount(0); // the same in both: not listed
  // The picker on the page shows the same selection.
  await expect(page.getByTestId(`pick-${longId}`)).toBeChecked();
  await expect(page.getByTestId(`pick-${shortId}`)).toBeChecked();
  if (SHOTS) await shot(page, "compare.png");
  await expectAccessible(page);
});

test("filter by status with the keyboard, then delete a finished run after confirming", async ({ page, request }) => {
  await page.goto("/runs");
  await page.waitForLoadState("networkidle");
  // A key press that lands while the page hydrates can be dropped: press again until the link is followed.
  await expect(async () => {
    await page.getByTestId("filter-succeeded").focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/runs\?status=succeeded$/, { timeout: 5_000 });
  }).toPass({ timeout: 60_000 });
  await expect(page.getByTestId("filter-succeeded")).toHaveAttribute("aria-current", "page");
  const statuses = await page.locator('[data-testid^="status-"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-status")));
  expect(statuses.length).toBeGreaterThanOrEqual(2);
  expect(new Set(statuses)).toEqual(new Set(["succeeded"]));

  // Labels call runs by their number (the Runs list's # column), URLs keep the database id.
  const shortNumber = await listedRunNumber(page, shortId);
  const longNumber = await listedRunNumber(page, longId);
  await expect(page.getByRole("link", { name: `Clone run #${longNumber} into a new Train form` })).toHaveAttribute("href", `/train?from=${longId}`);
  await expect(page.getByRole("checkbox", { name: `Select run #${longNumber} (runs-e2e-long-${stamp}) to compare` })).toBeVisible();
  // Cancel first: nothing happens.
  await page.getByRole("button", { name: `Delete run #${shortNumber}`, exact: true }).click();
  await expect(page.getByRole("dialog")).toContainText(`Delete run #${shortNumber}?`);
  await page.keyboard.press("Escape");
  await expect(page.getByRole("dialog")).toBeHidden();
  await expect(page.getByTestId(`run-row-${shortId}`)).toBeVisible();

  await page.getByTestId(`delete-${shortId}`).click();
  await page.getByTestId("confirm-delete").click();
  await expect(page.getByTestId("runs-message")).toContainText(`Run #${shortNumber} deleted.`);
  await expect(page.getByTestId(`run-row-${shortId}`)).toHaveCount(0);
  expect((await request.get(`/api/runs/${shortId}`)).status()).toBe(404);
  const runsDir = process.env.E2E_RUNS_DIR ?? "e2e/.artifacts/runs";
  expect(fs.existsSync(`${runsDir}/run-${shortId}`)).toBe(false);
  expect(fs.existsSync(`${runsDir}/run-${longId}`)).toBe(true);

  // The same list as JSON, with the filter validated.
  expect((await request.get("/api/runs?status=finished")).status()).toBe(400);
  const listed = (await (await request.get("/api/runs?status=succeeded")).json()) as { runs: { id: number; status: string }[] };
  expect(listed.runs.map((r) => r.id)).toContain(longId);
  expect(listed.runs.map((r) => r.id)).not.toContain(shortId);
});

test("the Run page and the Runs list in Chinese", async ({ page, context, baseURL }) => {
  await context.addCookies([{ name: "tb_locale", value: "zh", url: baseURL! }]);
  await page.goto(`/runs/${longId}`);
  await expect(page.getByTestId("loss-health")).toContainText("曲线解读");
  await expect(page.getByTestId("run-status")).toHaveText("已完成");
  await expect(page.getByRole("link", { name: "下载适配器" })).toBeVisible();
  await page.goto("/runs");
  await expect(page.getByRole("heading", { name: "运行记录" })).toBeVisible();
  await expect(page.getByTestId(`clone-${longId}`)).toHaveText("克隆");
  await expectAccessible(page);
});

/** axe-core: no serious or critical violations on the page as it is now. */
async function expectAccessible(page: Page) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

async function shot(page: Page, name: string) {
  await page.setViewportSize({ width: 1280, height: 720 });
  fs.mkdirSync("docs/screenshots", { recursive: true });
  await page.screenshot({ path: `docs/screenshots/${name}` });
}
