// Quantization on the Train page in a real Chromium against the real server, worker and chat process
// (CPU, demo model): the select changes the memory estimate and Show command, the schema's LoRA-only
// rule shows at the field, and a 4-bit demo run trains and its Chat answers.
import { expect, test, type Page } from "./helpers/test";
import { ensureDataset } from "./helpers/fixtures";
import { ask } from "./helpers/chat";

test.describe.configure({ mode: "serial" });

let runId = "";

test.beforeAll(async ({ browser }) => {
  const page = await browser.newPage();
  await ensureDataset(page);
  await page.close();
});

async function openTrain(page: Page) {
  await page.goto("/train");
  await expect(page.getByRole("button", { name: "Start" })).toBeEnabled();
}

/** The config file Show command displays (it must be there: the form is valid). */
async function shownConfig(page: Page): Promise<Record<string, unknown>> {
  const block = page.getByTestId("command-config");
  await expect(block).toBeVisible();
  return JSON.parse((await block.textContent({ timeout: 15_000 })) ?? "{}") as Record<string, unknown>;
}

test("the quantization select changes the memory estimate and Show command; full fine-tuning is refused at the field", async ({ page }) => {
  await openTrain(page);
  await expect(page.getByLabel("Model picker")).toHaveValue(/tuneboard-demo$/);
  const bits = page.getByLabel("Quantization bit");
  await expect(bits).toHaveValue("none");
  await page.getByRole("button", { name: "Show command" }).click();
  expect((await shownConfig(page)).quantization_bit).toBe("none");
  // The exact bytes (the demo model's few projections change the shown GiB only past its rounding).
  const weightBytes = async () => Number(await page.getByTestId("memory-weights").getAttribute("data-bytes"));
  const before = await weightBytes();
  expect(before).toBeGreaterThan(0);
  await expect(page.getByTestId("memory-quantized")).toHaveCount(0);

  await bits.selectOption("4");
  await expect.poll(weightBytes).toBeLessThan(before);
  const nf4 = await weightBytes();
  await expect(page.getByTestId("memory-quantized")).toContainText("4 bits (4.5 bits per weight");
  await expect(page.getByTestId("memory-breakdown")).toContainText("Base weights (4-bit projections)");
  await expect.poll(async () => (await shownConfig(page)).quantization_bit).toBe("4");
  // 4 bits has one method (NF4): no method select.
  await expect(page.getByLabel("Quantization method")).toHaveCount(0);

  await bits.selectOption("8");
  const method = page.getByLabel("Quantization method");
  await expect(method).toHaveValue("auto");
  await expect(page.locator("#quantization_method-help")).toContainText("compute capability ≥ 8.9");
  await method.selectOption("int8");
  await expect.poll(async () => await shownConfig(page)).toMatchObject({ quantization_bit: "8", quantization_method: "int8" });
  await expect(page.getByTestId("memory-quantized")).toContainText("8 bits");
  // 8 bits: more than 4, less than none.
  await expect.poll(weightBytes).toBeGreaterThan(nf4);
  expect(await weightBytes()).toBeLessThan(before);

  // The schema's rule at the field as the form breaks it, and again from the server at Start.
  await page.locator("#finetuning_type").selectOption("full");
  await expect(page.getByTestId("error-quantization_bit")).toContainText("quantized base weights train only with LoRA");
  await expect(page.getByTestId("command-invalid")).toContainText("quantized base weights train only with LoRA");
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByTestId("form-errors")).toBeVisible();
  await expect(page).toHaveURL(/\/train/);
  await expect(page.getByTestId("error-quantization_bit")).toContainText("quantized base weights train only with LoRA");
  // Back to LoRA: the command is valid again (the field keeps the last Start's error until the next Start).
  await page.locator("#finetuning_type").selectOption("lora");
  await expect(page.getByTestId("command-config")).toBeVisible();
});

test("a 4-bit demo run succeeds and its Chat answers on the 4-bit base", async ({ page }) => {
  test.setTimeout(10 * 60_000);
  const dataset = await ensureDataset(page);
  await openTrain(page);
  const boxes = page.locator('input[type="checkbox"][name="dataset"]');
  for (let i = 0; i < (await boxes.count()); i++) {
    const box = boxes.nth(i);
    if ((await box.getAttribute("value")) !== dataset && (await box.isChecked())) await box.uncheck();
  }
  await page.getByLabel(dataset).check();
  await page.getByLabel("Run name").fill(`quant-4bit-${Date.now() % 1_000_000}`);
  await page.getByLabel("Quantization bit").selectOption("4");
  await page.getByText("Advanced").click();
  await page.getByLabel("Max steps").fill("8");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  runId = page.url().split("/").at(-1)!;
  await expect(page.getByTestId("run-status")).toHaveText("succeeded", { timeout: 6 * 60_000 });
  await expect(page.getByTestId("run-log")).toContainText("quantized base weights (nf4, quantization_bit 4)");

  await page.goto(`/chat?run=${runId}`);
  await expect(page.getByTestId(`adapter-${runId}`)).toBeChecked();
  await page.getByRole("button", { name: "Load", exact: true }).click();
  await expect(page.getByTestId("chat-state")).toHaveAttribute("data-state", "ready", { timeout: 120_000 });
  await page.getByText("Generation settings").click();
  await page.getByLabel("Temperature (0 = greedy)").fill("0");
  await page.getByLabel("Max new tokens").fill("32");
  const answer = await ask(page, "Who are you?");
  test.info().annotations.push({ type: "answer", description: answer.text });
  expect(answer.text.trim().length).toBeGreaterThan(0);
});
