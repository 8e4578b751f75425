// New model families end to end on the CPU: a tiny GLM-4 and a tiny Gemma 3 checkpoint, written by
// transformers into the e2e model root, are listed on the Train page with their shapes and guessed
// templates; a short LoRA run of each succeeds, and Chat loads it (the reference engine) and answers.
import { expect, test } from "./helpers/test";
import { ask } from "./helpers/chat";
import { ensureDataset, writeTinyCheckpoint } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const FAMILIES = [
  { family: "glm4", architecture: "Glm4ForCausalLM", template: "glm4" },
  { family: "gemma3", architecture: "Gemma3ForCausalLM", template: "gemma3" },
] as const;

for (const { family, architecture, template } of FAMILIES) {
  test(`${architecture}: picked with its template guessed, trained, and chatted with`, async ({ page }) => {
    test.setTimeout(8 * 60_000);
    const name = writeTinyCheckpoint(family);
    const dataset = await ensureDataset(page);

    await page.goto("/train");
    const picker = page.locator("#model-picker");
    await picker.selectOption({ label: name });
    const details = page.getByTestId("model-details");
    await expect(details.getByTestId("model-architecture")).toHaveText(architecture);
    await expect(details.getByTestId("model-layers")).toHaveText("2");
    await expect(details.getByTestId("model-context")).toHaveText("2,048");
    await expect(details.getByTestId("model-template")).toContainText(template);
    await expect(page.locator("#template")).toHaveValue(template);

    // Train on the e2e dataset alone (other specs may have registered datasets the form pre-ticks).
    const boxes = page.locator('input[type="checkbox"][name="dataset"]');
    for (let i = 0; i < (await boxes.count()); i++) {
      const box = boxes.nth(i);
      if ((await box.getAttribute("value")) !== dataset && (await box.isChecked())) await box.uncheck();
    }
    await page.getByLabel(dataset).check();
    await page.getByText("Advanced").click();
    await page.getByLabel("Max steps").fill("2");
    await page.getByRole("button", { name: "Start" }).click();
    await page.waitForURL(/\/runs\/\d+$/);
    const runId = page.url().split("/").at(-1)!;
    await expect(page.getByTestId("run-status")).toHaveText("succeeded", { timeout: 300_000 });

    // Chat with the run's adapter on the family's template.
    await page.goto(`/chat?run=${runId}`);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await expect(page.getByTestId(`adapter-${runId}`)).toBeChecked();
    await page.getByRole("button", { name: "Load", exact: true }).click();
    await expect(page.getByTestId("chat-state")).toHaveAttribute("data-state", "ready", { timeout: 120_000 });
    await page.getByText("Generation settings").click();
    await page.getByLabel("Temperature (0 = greedy)").fill("0");
    await page.getByLabel("Max new tokens").fill("8");
    const answer = await ask(page, "Who are you?");
    expect(answer.text.length).toBeGreaterThan(0); // random weights: any tokens, streamed to the end
    await page.getByRole("button", { name: "Unload" }).click();
    await expect(page.getByTestId("chat-state")).toHaveAttribute("data-state", "idle");
  });
}
