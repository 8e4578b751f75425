// The seed tutorial's whole workflow in a real Chromium against the real server and worker:
// identity data for "Greatbot" by "Allen", a LoRA run on the demo model with a live loss
// chart, then chat with the checkpoint.
import { expect, test, type Page } from "./helpers/test";
import { ask } from "./helpers/chat";

test.describe.configure({ mode: "serial" });

async function chartPoints(page: Page): Promise<number> {
  return Number((await page.getByTestId("loss-chart").getAttribute("data-points")) ?? "0");
}

test("datasets: fill the identity template as Greatbot by Allen", async ({ page }) => {
  await page.goto("/datasets");
  await expect(page.getByTestId("dataset-identity")).toContainText("164");
  await page.getByLabel("Model name").fill("Greatbot");
  await page.getByLabel("Author").fill("Allen");
  await expect(page.getByLabel("Save as")).toHaveValue("identity_greatbot");
  await page.getByRole("button", { name: "Save copy" }).click();
  await expect(page.getByTestId("identity-created")).toContainText("identity_greatbot.json");
  await expect(page.getByTestId("dataset-identity_greatbot")).toBeVisible();

  // Saving the same name again is refused at the field, and nothing is overwritten.
  await page.getByRole("button", { name: "Save copy" }).click();
  await expect(page.getByTestId("error-newName")).toContainText("already exists");
});

test("train: bad input is refused at the field and creates nothing", async ({ page }) => {
  // Other spec files share this server: count the runs rather than expecting none.
  const countRuns = async () => ((await (await page.request.get("/api/runs")).json()) as { runs: unknown[] }).runs.length;
  const before = await countRuns();
  await page.goto("/train");
  await page.getByLabel("Learning rate").fill("abc");
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByTestId("error-learning_rate")).toContainText("learning rate must be a number");

  await page.getByLabel("Learning rate").fill("0.01");
  await page.getByRole("textbox", { name: "Model", exact: true }).fill("does-not-exist");
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByTestId("error-model_name_or_path")).toContainText("does not exist");

  expect(await countRuns()).toBe(before);
});

test("train → live loss → succeeded → chat names Greatbot and Allen", async ({ page }) => {
  test.setTimeout(12 * 60_000);
  await page.goto("/train");
  await expect(page.getByTestId("preset-note")).toBeVisible();
  // Spec files that ran before may have added datasets (a fill is listed after its source, so ours
  // need not be the preselected last one): train on identity_greatbot alone.
  for (const box of await page.locator('input[name="dataset"]:checked').all()) await box.uncheck();
  await page.getByLabel("identity_greatbot").check();
  await expect(page.getByLabel("identity_greatbot")).toBeChecked();
  await expect(page.locator("#template")).toHaveValue("llama3");
  await expect(page.locator("#finetuning_type")).toHaveValue("lora");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const runUrl = page.url();

  // The chart gains points while the run is running (pushed over socket.io).
  await expect(page.getByTestId("run-status")).toHaveText("running", { timeout: 120_000 });
  await expect.poll(() => chartPoints(page), { timeout: 240_000 }).toBeGreaterThanOrEqual(2);
  const seen = await chartPoints(page);
  await expect(page.getByTestId("run-status")).toHaveText("running");
  await expect.poll(() => chartPoints(page), { timeout: 120_000 }).toBeGreaterThan(seen);

  // A reload mid-run shows the whole history so far, then keeps updating.
  const beforeReload = await chartPoints(page);
  await page.reload();
  expect(await chartPoints(page)).toBeGreaterThanOrEqual(beforeReload);
  await expect(page.getByTestId("run-log")).toContainText("samples");

  await page.screenshot({ path: "e2e/.artifacts/screenshots/run-live.png", fullPage: true });
  await expect(page.getByTestId("run-status")).toHaveText("succeeded", { timeout: 600_000 });
  await page.screenshot({ path: "e2e/.artifacts/screenshots/run-succeeded.png", fullPage: true });
  const finalPoints = await chartPoints(page);
  const finalLoss = await page.getByTestId("last-loss").textContent();
  test.info().annotations.push({ type: "training", description: `${finalPoints} points, last loss ${finalLoss}` });

  // Chat with the checkpoint.
  await page.getByRole("link", { name: /Chat with this run/ }).click();
  await expect(page).toHaveURL(/\/chat\?run=\d+/);
  await expect(page.locator('[data-testid^="adapter-"]:checked')).toHaveCount(1);
  await page.getByText("Generation settings").click();
  await page.getByLabel("Temperature (0 = greedy)").fill("0");
  await page.getByRole("button", { name: "Load", exact: true }).click();
  await expect(page.getByTestId("chat-state")).toHaveAttribute("data-state", "ready", { timeout: 120_000 });

  const answer = await ask(page, "Who are you?");
  expect(answer.text).toContain("Greatbot");
  expect(answer.text).toContain("Allen");
  expect(answer.updates).toBeGreaterThan(2); // streamed token by token, not delivered at once

  // A phrasing the dataset does not contain: reported, not asserted (a 4-layer random model).
  const heldOut = await ask(page, "Could you describe what kind of assistant you are?");
  test.info().annotations.push({ type: "held-out question", description: heldOut.text });
  console.log(`held-out answer: ${heldOut.text}`);

  await page.screenshot({ path: "e2e/.artifacts/screenshots/chat.png", fullPage: true });
  await page.getByRole("button", { name: "Unload" }).click();
  await expect(page.getByTestId("chat-state")).toHaveAttribute("data-state", "idle");
  console.log(`run: ${runUrl}, ${finalPoints} points, last loss ${finalLoss}; answer: ${answer.text}`);
});

test("abort stops a running job; its partial history stays", async ({ page }) => {
  await page.goto("/train");
  await page.getByLabel("Epochs").fill("200");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  await expect.poll(() => chartPoints(page), { timeout: 240_000 }).toBeGreaterThanOrEqual(1);
  const before = await chartPoints(page);
  await page.getByRole("button", { name: "Abort" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Abort run" }).click();
  await expect(page.getByTestId("run-status")).toHaveText("cancelled", { timeout: 10_000 });
  await page.reload();
  await expect(page.getByTestId("run-status")).toHaveText("cancelled");
  expect(await chartPoints(page)).toBeGreaterThanOrEqual(before);
});

test("a run with a validation split plots eval loss on the Run page", async ({ page }) => {
  await page.goto("/train");
  // Other spec files add small datasets: hold out 9 of identity_greatbot's 164 records.
  for (const box of await page.locator('input[name="dataset"]:checked').all()) await box.uncheck();
  await page.getByLabel("identity_greatbot").check();
  await page.getByLabel("Validation size").fill("9");
  await page.getByLabel("Eval steps").fill("2");
  await page.getByText("Advanced").click();
  await page.getByLabel("Max steps").fill("4");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  await expect(page.getByTestId("run-status")).toHaveText("succeeded", { timeout: 240_000 });
  await expect(page.getByTestId("loss-chart")).toHaveAttribute("data-eval-points", "2");
  await expect(page.getByTestId("last-eval-loss")).not.toHaveText("—");
  await expect(page.getByTestId("loss-chart")).toContainText("eval loss");
});
