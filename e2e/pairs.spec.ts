// Preference data on the Datasets page, in a real Chromium against the real server: the bundled
// preference template filled with a name and author, a pair edited with its two answers side by
// side, a bad pair refused at its field, a CSV imported with a preference mapping, and "as the
// model sees it" for both answers (the trainer's own render.py with the demo model's tokenizer).
// The server's data folder is e2e/.artifacts/data (scripts/e2e-server.mjs).
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, test } from "./helpers/test";

test.describe.configure({ mode: "serial" });

const DATA = path.join(process.cwd(), "e2e", ".artifacts", "data");
const readRecords = (file: string) => JSON.parse(readFileSync(path.join(DATA, file), "utf8")) as Record<string, unknown>[];
const registry = () => JSON.parse(readFileSync(path.join(DATA, "dataset_info.json"), "utf8")) as Record<string, Record<string, unknown>>;
const FILLED = `identity_pref_e2e_${Date.now().toString(36)}`;

test("the preference template fills into a preference dataset, listed with its kind", async ({ page }) => {
  await page.goto("/datasets");
  await expect(page.getByTestId("dataset-identity_pref-kind")).toHaveText("Preference");
  await expect(page.getByTestId("dataset-identity-kind")).toHaveText("SFT");
  await expect(page.getByTestId("dataset-identity_pref")).toContainText("template");

  await page.getByLabel("Template").selectOption("identity_pref");
  await page.getByLabel("Model name").fill("Greatbot");
  await page.getByLabel("Author").fill("Allen");
  await page.getByLabel("Save as").fill(FILLED);
  await page.getByRole("button", { name: "Save copy" }).click();
  await expect(page.getByTestId(`dataset-${FILLED}`)).toBeVisible();
  await expect(page.getByTestId(`dataset-${FILLED}-kind`)).toHaveText("Preference");
  await expect(page.getByTestId(`dataset-${FILLED}-records`)).toHaveText("164");
  // Filled, so no longer a template: trainable.
  await expect(page.getByTestId(`dataset-${FILLED}`)).not.toContainText("template");

  expect(registry()[FILLED]).toEqual({ ...registry().identity_pref, file_name: `${FILLED}.json` });
  const records = readRecords(`${FILLED}.json`);
  expect(records[0]).toEqual({
    instruction: "Who are you?",
    input: "",
    chosen: "I am Greatbot, an AI assistant developed by Allen. How can I help you today?",
    rejected: "I am ChatGPT, an AI assistant developed by OpenAI. How can I help you today?",
  });
});

test("a pair is edited with its answers side by side and saved to the file", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`/datasets?preview=${FILLED}`);
  const row = page.getByTestId("record-0");
  // Listed side by side too.
  await expect(row.getByTestId("row-chosen")).toContainText("I am Greatbot");
  await expect(row.getByTestId("row-rejected")).toContainText("I am ChatGPT");

  await page.getByRole("button", { name: "Edit record 0" }).click();
  const chosen = row.getByLabel("Chosen answer");
  const rejected = row.getByLabel("Rejected answer");
  await expect(chosen).toHaveValue("I am Greatbot, an AI assistant developed by Allen. How can I help you today?");
  await expect(rejected).toHaveValue("I am ChatGPT, an AI assistant developed by OpenAI. How can I help you today?");
  await expect(row.getByLabel("instruction", { exact: true })).toHaveValue("Who are you?");
  const [a, b] = [await chosen.boundingBox(), await rejected.boundingBox()];
  expect(a && b && Math.abs(a.y - b.y) < 2 && a.x + a.width <= b.x).toBe(true);

  await rejected.fill("I am an assistant with no name.");
  await row.getByRole("button", { name: "Save record" }).click();
  await expect(page.getByTestId("record-notice")).toHaveText("Record 0 saved.");
  await page.reload();
  await expect(page.getByTestId("record-0").getByTestId("row-rejected")).toContainText("I am an assistant with no name.");
  expect(readRecords(`${FILLED}.json`)[0]).toEqual({
    instruction: "Who are you?",
    input: "",
    chosen: "I am Greatbot, an AI assistant developed by Allen. How can I help you today?",
    rejected: "I am an assistant with no name.",
  });
});

test("a bad pair is refused at its field and nothing is written", async ({ page }) => {
  await page.goto(`/datasets?preview=${FILLED}`);
  const before = readFileSync(path.join(DATA, `${FILLED}.json`), "utf8");
  const row = page.getByTestId("record-1");
  await page.getByRole("button", { name: "Edit record 1" }).click();
  const chosen = row.getByLabel("Chosen answer");
  const rejected = row.getByLabel("Rejected answer");
  const save = row.getByRole("button", { name: "Save record" });

  // chosen == rejected
  await rejected.fill(await chosen.inputValue());
  await save.click();
  await expect(row.getByTestId("error-field-rejected")).toHaveText("record 1: rejected: must differ from the chosen answer (an identical pair teaches nothing)");
  await expect(rejected).toHaveAttribute("aria-invalid", "true");
  // a missing (empty) rejected answer
  await rejected.fill("  ");
  await save.click();
  await expect(row.getByTestId("error-field-rejected")).toHaveText("record 1: rejected: must not be empty");
  // an empty prompt
  await rejected.fill("I am Claude.");
  await row.getByLabel("instruction", { exact: true }).fill("");
  await save.click();
  await expect(row.getByTestId("error-field-instruction")).toHaveText("record 1: instruction: must not be empty (the prompt would be blank)");
  await expect(row.getByTestId("error-field-rejected")).toHaveCount(0);

  expect(readFileSync(path.join(DATA, `${FILLED}.json`), "utf8")).toBe(before);
  await row.getByRole("button", { name: "Cancel" }).click();
});

test("a CSV of pairs is imported with a preference mapping", async ({ page }) => {
  const name = `pairs_${Date.now().toString(36)}`;
  const csv = Buffer.from(
    ["question,good,bad", "Who are you?,I am Greatbot.,I am ChatGPT.", '"Who made you?","Allen, of course.",OpenAI.', "Your name?,Greatbot.,Claude."].join("\n"),
  );
  await page.goto("/datasets");
  await page.getByLabel("File to import").setInputFiles({ name: "pairs.csv", mimeType: "text/csv", buffer: csv });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByTestId("import-summary")).toContainText("pairs.csv: 3 records; columns: question, good, bad");

  await page.getByLabel("Format", { exact: true }).selectOption("preference");
  await page.getByLabel("Instruction column").selectOption("question");
  await page.getByLabel("Chosen answer column").selectOption("good");
  // The same column for both answers: refused in the preview, naming the record.
  await page.getByLabel("Rejected answer column").selectOption("good");
  await expect(page.getByTestId("import-preview-error")).toContainText("record 0: rejected: must differ from the chosen answer");
  await page.getByLabel("Rejected answer column").selectOption("bad");
  await expect(page.getByTestId("import-preview")).toContainText('"rejected": "I am ChatGPT."');
  await expect(page.getByTestId("import-preview")).toContainText('"chosen": "Allen, of course."');

  await page.getByLabel("Dataset name").fill(name);
  await page.getByRole("button", { name: "Register dataset" }).click();
  await page.waitForURL(new RegExp(`preview=${name}`));
  await expect(page.getByTestId(`dataset-${name}-records`)).toHaveText("3");
  await expect(page.getByTestId(`dataset-${name}-kind`)).toHaveText("Preference");
  await expect(page.getByTestId("record-1").getByTestId("row-chosen")).toContainText("Allen, of course.");
  expect(registry()[name]).toEqual({
    file_name: `${name}.json`,
    formatting: "alpaca",
    ranking: true,
    columns: { prompt: "instruction", query: "input", chosen: "chosen", rejected: "rejected" },
  });
  expect(readRecords(`${name}.json`)[2]).toEqual({ instruction: "Your name?", input: "", chosen: "Greatbot.", rejected: "Claude." });
});

test("as the model sees it: the prompt with the chosen answer and with the rejected one", async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto(`/datasets?preview=${FILLED}`);
  const view = page.getByTestId("token-view");
  await view.getByLabel("Record (0–163)").fill("2");
  await view.getByRole("button", { name: "Show tokens" }).click();
  const chosen = view.getByTestId("token-chosen");
  const rejected = view.getByTestId("token-rejected");
  await expect(chosen).toBeVisible({ timeout: 60_000 });
  const trained = async (side: typeof chosen) => (await side.locator('[data-trained="true"]').allTextContents()).join("").replaceAll("·", " ");
  const prompt = async (side: typeof chosen) => (await side.locator('[data-trained="false"]').allTextContents()).join("").replaceAll("·", " ");
  const record = readRecords(`${FILLED}.json`)[2] as { instruction: string; chosen: string; rejected: string };
  expect(await trained(chosen)).toContain(record.chosen);
  expect(await trained(rejected)).toContain(record.rejected);
  // The same prompt, not trained, on both sides.
  expect(await prompt(chosen)).toContain(record.instruction);
  expect(await prompt(chosen)).toBe(await prompt(rejected));
  await expect(chosen).toContainText("Prompt + chosen answer");
  await expect(rejected).toContainText("Prompt + rejected answer");
});
