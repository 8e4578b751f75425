// Defects found after the tutorial, each checked where the user saw it: the identity template
// on Evaluate and Train, the Train form after a refused Start, form messages without internal
// names, the Evaluate page's progress and height, Home's runs and numbering, and Chat's compare.
import { expect, test, type Page } from "./helpers/test";
import { createTinyRun, ensureDataset, tickOnlyEvalDataset } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const TEMPLATE_NOTE = "template: fill in name/author first";
let adapterRun = 0;

test("the identity template is disabled, marked and never pre-ticked on Evaluate and Train", async ({ page }) => {
  await page.goto("/evaluate");
  const evalBox = page.getByTestId("eval-dataset-identity");
  await expect(evalBox).toContainText(TEMPLATE_NOTE);
  await expect(evalBox.getByRole("checkbox")).toBeDisabled();
  await expect(evalBox.getByRole("checkbox")).not.toBeChecked();

  await page.goto("/train");
  const trainBox = page.locator('input[name="dataset"][value="identity"]');
  await expect(trainBox).toBeDisabled();
  await expect(trainBox).not.toBeChecked();
  await expect(page.locator('label[for="dataset-identity"]')).toContainText(TEMPLATE_NOTE);

  // A filled dataset is what both forms pre-tick (the newest one: other specs may have added some after ours).
  await ensureDataset(page);
  await page.goto("/evaluate");
  await expect(page.locator('[data-testid^="eval-dataset-"] input[type="checkbox"]:checked')).toHaveCount(1);
  await expect(page.getByTestId("eval-dataset-identity").getByRole("checkbox")).not.toBeChecked();
});

test("a Start refused for no dataset keeps the dataset unticked", async ({ page }) => {
  await ensureDataset(page);
  await page.goto("/train");
  const boxes = page.locator('input[type="checkbox"][name="dataset"]:checked');
  while ((await boxes.count()) > 0) await boxes.first().uncheck();
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByTestId("error-dataset")).toBeVisible();
  await expect(page.getByTestId("dataset-total")).toHaveCount(0);
  // The form action has settled (the error shows); nothing was ticked again.
  await page.waitForTimeout(500);
  await expect(page.locator('input[type="checkbox"][name="dataset"]:checked')).toHaveCount(0);
  await expect(page).toHaveURL(/\/train$/);
});

test("form errors sit at the field, without internal field names", async ({ page }) => {
  await page.goto("/datasets");
  await page.getByLabel("Model name").fill("Namebot");
  await page.getByLabel("Author").fill("Tester");
  await page.getByLabel("Save as").fill("Bad Name");
  await page.getByRole("button", { name: "Save copy" }).click();
  const error = page.getByTestId("error-newName");
  await expect(error).toContainText("use lowercase letters");
  await expect(error).not.toContainText("newName");

  await page.getByLabel("Save as").fill("ok_name_check");
  await page.getByLabel("Model name").fill("{{x}}");
  await page.getByRole("button", { name: "Save copy" }).click();
  await expect(page.getByTestId("error-name")).toContainText("must not contain {{ or }}");
  await expect(page.getByTestId("error-name")).not.toHaveText(/^name:/);
});

/** The "step / total" texts an evaluation card shows while it runs. */
async function watchProgress(page: Page, jobId: number): Promise<string[]> {
  const card = page.getByTestId(`task-job-${jobId}`);
  const seen: string[] = [];
  for (let i = 0; i < 600; i++) {
    const status = await card.getByTestId("run-status").getAttribute("data-status").catch(() => null);
    const text = await card.getByTestId("task-progress").textContent({ timeout: 500 }).catch(() => null);
    if (text && seen.at(-1) !== text) seen.push(text);
    if (status === "succeeded" || status === "failed" || status === "cancelled") break;
    await page.waitForTimeout(250);
  }
  return seen;
}

test("an evaluation's total is known from the start and its predictions come 20 at a time", async ({ page }) => {
  test.setTimeout(8 * 60_000);
  const dataset = await ensureDataset(page);
  await page.goto("/evaluate");
  const form = page.getByRole("form", { name: "Evaluate & Predict" });
  await form.getByLabel("Adapter (finished run)").selectOption("");
  await tickOnlyEvalDataset(page, dataset);
  await form.getByLabel("Max samples").fill("25");
  await form.getByLabel("Max new tokens").fill("2");
  await form.getByRole("button", { name: "Start evaluation" }).click();
  await page.waitForURL(/\/evaluate\?tab=eval&job=\d+$/);
  const jobId = Number(new URL(page.url()).searchParams.get("job"));

  const seen = await watchProgress(page, jobId);
  const card = page.getByTestId(`task-job-${jobId}`);
  await expect(card.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 300_000 });
  const totals = new Set(seen.map((s) => s.split("/")[1]!.trim()));
  const steps = seen.map((s) => Number(s.split("/")[0]));
  expect(totals.size, seen.join(", ")).toBeLessThanOrEqual(1);
  expect(steps).toEqual([...steps].sort((a, b) => a - b));

  // The card names the job by its number among evaluations.
  const evaluations = await page.locator('article[data-testid^="task-job-"]').count();
  await expect(card.getByTestId("task-job-label")).toHaveText(new RegExp(`^Evaluation #${evaluations} `));

  const rows = card.getByTestId("eval-predictions").locator("tbody tr");
  await expect(rows).toHaveCount(20);
  await expect(card.getByTestId("eval-predictions-shown")).toHaveText("20 of 25 shown");
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  expect(height).toBeLessThan(5000);
  await card.getByRole("button", { name: "Show 5 more" }).click();
  await expect(rows).toHaveCount(25);
  await expect(card.getByTestId("eval-predictions-shown")).toHaveCount(0);
});

test("Home counts training runs only, numbers them among runs, and says their status in Chinese", async ({ page, context, baseURL }) => {
  test.setTimeout(6 * 60_000);
  adapterRun = await createTinyRun(page, "e2e-defects-home");
  await page.goto("/runs");
  const runRows = page.locator('[data-testid^="run-row-"]');
  const runs = await runRows.count();
  await expect(page.getByTestId(`run-row-${adapterRun}`).locator("td").nth(1)).toHaveText(String(runs));

  await page.goto("/");
  await expect(page.getByTestId("home-counts")).toContainText(`${runs} in total`);
  const recent = page.getByRole("region", { name: "Recent runs" }).getByRole("link", { name: /^Run #/ });
  await expect(recent.first()).toHaveText(`Run #${runs} e2e-defects-home`);
  await expect(page.getByText(/^e2e-evaluate|^eval-/)).toHaveCount(0);

  await context.addCookies([{ name: "tb_locale", value: "zh", url: baseURL! }]);
  await page.goto("/");
  const badge = page.getByRole("region", { name: "最近的运行" }).getByTestId("run-status").first();
  await expect(badge).toHaveText(/^(排队中|运行中|已完成|失败|已取消)$/);
  await context.clearCookies();
  await expect
    .poll(async () => (await page.request.get(`/api/runs/${adapterRun}/adapter`)).status(), { timeout: 300_000, intervals: [2000] })
    .toBe(200);
});

test("Compare: the Identity check waits for a streaming answer, each side stops, Send comes back", async ({ page }) => {
  test.setTimeout(6 * 60_000);
  await page.goto(`/chat?run=${adapterRun}`);
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await page.getByRole("button", { name: "Load", exact: true }).click();
  await expect(page.getByTestId("chat-state")).toHaveAttribute("data-state", "ready", { timeout: 120_000 });
  await page.getByLabel("Name to look for").fill("E2Ebot");

  // Near-uniform sampling never ends on its own: only Stop (or the compare cap) ends it.
  await page.getByText("Generation settings").click();
  await page.getByLabel("Temperature (0 = greedy)").fill("5");
  await page.getByLabel("Max new tokens").fill("1024");
  await page.getByLabel("Compare with the base model").check();
  await page.getByLabel("Message").fill("Tell me a long story.");
  await page.getByRole("button", { name: "Send" }).click();
  const row = page.getByTestId("compare-row");
  await expect.poll(async () => ((await row.getByTestId("assistant-message").textContent()) ?? "").length, { timeout: 60_000 }).toBeGreaterThan(5);

  await expect(page.getByTestId("identity-wait")).toHaveText(/Waiting for the answer/);
  await expect(page.getByRole("button", { name: "Run identity check" })).toBeDisabled();

  // The base side (queued behind the fine-tuned one, or streaming) stops on its own Stop.
  await row.getByTestId("base-message-stop").click();
  await expect(row.getByTestId("base-message-finish")).toHaveAttribute("data-finish", "aborted", { timeout: 30_000 });
  // The fine-tuned side ends by its own Stop, or at the compare cap if it got there first.
  const stopTuned = row.getByTestId("assistant-message-stop");
  if (await stopTuned.isVisible()) await stopTuned.click().catch(() => undefined);
  await expect(row.getByTestId("assistant-message-finish")).toHaveAttribute("data-finish", /^(aborted|length)$/, { timeout: 60_000 });
  await expect(page.getByRole("button", { name: "Send" })).toBeVisible();
  await expect(page.getByTestId("identity-wait")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Run identity check" })).toBeEnabled();
  await page.getByRole("button", { name: "Unload" }).click();
});
