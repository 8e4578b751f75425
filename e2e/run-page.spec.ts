// The Run page's finishing touches, in a real Chromium against the real server and worker: a
// favicon (no console error or failed request on Home), a real HTTP 404 for an unknown run,
// no "live" badge or time remaining on a finished or cancelled run, Abort behind a confirmation
// that names the run, each log line once, and the "Log scale" choice kept per browser.
import { expect, test, type APIRequestContext, type Page } from "./helpers/test";
import { DEFAULT_RUN_CONFIG } from "../lib/schemas/run-config";
import { createTinyRun, ensureDataset, shownRunNumber } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const stamp = Date.now().toString(36);
let finishedId = 0;
let cancelledId = 0;

async function dbJob(request: APIRequestContext, id: number): Promise<{ status: string; cancelRequested?: boolean }> {
  const res = await request.get(`/api/runs/${id}`);
  expect(res.ok()).toBe(true);
  return ((await res.json()) as { job: { status: string; cancelRequested?: boolean } }).job;
}

/** A demo-model run long enough to be aborted while it runs (many 1-sample steps). */
async function createLongRun(page: Page, name: string): Promise<number> {
  const dataset = await ensureDataset(page);
  const res = await page.request.post("/api/runs", {
    data: {
      ...DEFAULT_RUN_CONFIG,
      name,
      model_name_or_path: "tuneboard-demo",
      dataset: [dataset],
      max_steps: 2000,
      cutoff_len: 64,
      per_device_train_batch_size: 1,
      gradient_accumulation_steps: 1,
      save_steps: 0,
      logging_steps: 1,
    },
  });
  expect(res.status(), await res.text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

/** Nothing on the page says a finished run is live or has time left. */
async function expectNotLive(page: Page) {
  await expect(page.getByTestId("run-status")).toBeVisible();
  await expect(page.getByTestId("socket-state")).toHaveCount(0);
  await expect(page.getByTestId("progress-eta")).toHaveCount(0);
  await expect(page.getByText("● live")).toHaveCount(0);
  await expect(page.getByText(/Remaining/)).toHaveCount(0);
}

test("Home: a favicon, and no console error or failed request", async ({ page }) => {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
  const res = await page.goto("/");
  expect(res?.status()).toBe(200);
  await page.waitForLoadState("networkidle");
  const icon = page.locator('head link[rel="icon"]');
  await expect(icon).toHaveCount(1);
  const href = (await icon.getAttribute("href"))!;
  const svg = await page.request.get(href);
  expect(svg.status()).toBe(200);
  expect(svg.headers()["content-type"]).toContain("image/svg+xml");
  expect(problems).toEqual([]);
});

test("an unknown run answers HTTP 404 with its number and a link back to the runs", async ({ page }) => {
  const res = await page.goto("/runs/987654");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Run #987654 not found" })).toBeVisible();
  await page.getByRole("link", { name: "← Back to the runs" }).click();
  await page.waitForURL(/\/runs$/);
  await expect(page.getByRole("heading", { name: "Runs" })).toBeVisible();

  expect((await page.goto("/runs/not-a-number"))?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Run #not-a-number not found" })).toBeVisible();
  const other = await page.goto("/no-such-page");
  expect(other?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("a finished run: not live, no time remaining, each log line once", async ({ page, request }) => {
  test.setTimeout(240_000);
  finishedId = await createTinyRun(page, `run-page-finished-${stamp}`);
  await expect.poll(async () => (await dbJob(request, finishedId)).status, { timeout: 200_000 }).toBe("succeeded");
  const res = await page.goto(`/runs/${finishedId}`);
  expect(res?.status()).toBe(200);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded");
  await expectNotLive(page);
  await expect(page.getByTestId("progress-elapsed")).toBeVisible(); // the time it took stays

  const log = (await page.getByTestId("run-log").textContent()) ?? "";
  const lines = log.split("\n").filter((l) => l.trim() !== "");
  expect(lines.some((l) => l.includes("loaded"))).toBe(true); // a trainer `log` line
  expect(lines.some((l) => /step 1\/1/.test(l))).toBe(true); // a trainer step line
  const repeated = lines.filter((l, i) => lines.indexOf(l) !== i);
  expect(repeated, log).toEqual([]);
});

test("Abort asks first and names the run; cancelling keeps it running; a cancelled run is not live", async ({ page, request }) => {
  test.setTimeout(480_000); // waits for a queued run to start and log three steps: minutes on a loaded 2-core machine
  const name = `run-page-aborted-${stamp}`;
  cancelledId = await createLongRun(page, name);
  await page.goto(`/runs/${cancelledId}`);
  const number = await shownRunNumber(page);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "running", { timeout: 200_000 });
  // While it runs, the page is live (the badge this spec expects gone later).
  await expect(page.getByTestId("socket-state")).toHaveAttribute("data-connected", "true");
  await expect(page.getByTestId("progress-eta")).toBeVisible();
  // A few logged steps first: the log-scale test below draws this run's curve.
  await expect.poll(async () => Number(await page.getByTestId("loss-chart").getAttribute("data-points")), { timeout: 120_000 }).toBeGreaterThanOrEqual(3);

  await page.getByRole("button", { name: "Abort" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText(`Abort run #${number}?`);
  await expect(dialog).toContainText(name);
  await dialog.getByRole("button", { name: "Keep running" }).click();
  await expect(dialog).toBeHidden();
  // Escape closes it the same way.
  await page.getByRole("button", { name: "Abort" }).click();
  await expect(dialog).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  expect(await dbJob(request, cancelledId)).toMatchObject({ status: "running", cancelRequested: false });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "running");

  await page.getByRole("button", { name: "Abort" }).click();
  await dialog.getByRole("button", { name: "Abort run" }).click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "cancelled", { timeout: 30_000 });
  await expectNotLive(page);
  await page.reload();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "cancelled");
  await expectNotLive(page);
});

test("Log scale on the loss charts: drawn on a log axis, kept per browser, shared with Compare", async ({ page }) => {
  await page.goto(`/runs/${cancelledId}`);
  const chart = page.getByTestId("loss-chart");
  const toggle = page.getByRole("checkbox", { name: "Log scale" });
  await expect(toggle).not.toBeChecked();
  await expect(chart).toHaveAttribute("data-scale", "linear");
  await toggle.check();
  await expect(chart).toHaveAttribute("data-scale", "log");
  // Both loss lines are still drawn, with real coordinates.
  const curves = chart.locator(".recharts-line-curve");
  await expect(curves).toHaveCount(2);
  for (const d of await curves.evaluateAll((els) => els.map((e) => e.getAttribute("d") ?? ""))) {
    expect(d).toMatch(/^M/);
    expect(d).not.toContain("NaN");
  }

  await page.reload();
  await expect(page.getByRole("checkbox", { name: "Log scale" })).toBeChecked();
  await expect(page.getByTestId("loss-chart")).toHaveAttribute("data-scale", "log");

  await page.goto(`/compare?ids=${finishedId},${cancelledId}`);
  await expect(page.getByTestId("compare-chart")).toHaveAttribute("data-scale", "log");
  const compareToggle = page.getByRole("checkbox", { name: "Log scale" });
  await expect(compareToggle).toBeChecked();
  await compareToggle.uncheck();
  await expect(page.getByTestId("compare-chart")).toHaveAttribute("data-scale", "linear");
  await page.goto(`/runs/${cancelledId}`);
  await expect(page.getByRole("checkbox", { name: "Log scale" })).not.toBeChecked();
});

test("in Chinese: the log-scale toggle and the unknown run", async ({ page, context, baseURL }) => {
  await context.addCookies([{ name: "tb_locale", value: "zh", url: baseURL! }]);
  await page.goto(`/runs/${cancelledId}`);
  await expect(page.getByRole("checkbox", { name: "对数坐标" })).toBeVisible();
  const res = await page.goto("/runs/987654");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "找不到运行 #987654" })).toBeVisible();
  await expect(page.getByRole("link", { name: "← 返回运行记录" })).toBeVisible();
});
