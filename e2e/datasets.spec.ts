// The Datasets page in a real Chromium against the real server: edit a record (persisted to the
// file on disk), a bad edit refused at its field, import a CSV with column mapping, and the
// "as the model sees it" view rendered by the trainer's own Python code with the demo model's
// tokenizer. The server's data folder is e2e/.artifacts/data (scripts/e2e-server.mjs).
import { readFileSync } from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "./helpers/test";

test.describe.configure({ mode: "serial" });

const DATA = path.join(process.cwd(), "e2e", ".artifacts", "data");
const readRecords = (file: string) => JSON.parse(readFileSync(path.join(DATA, file), "utf8")) as Record<string, unknown>[];
const SHOTS = process.env.TUNEBOARD_SCREENSHOTS === "1";

async function noSeriousA11yViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

test("edit a record: saved to the file, still there after a reload", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto("/datasets?preview=identity&page=2");
  await expect(page.getByTestId("preview-page")).toHaveText("Page 2 of 17");
  const row = page.getByTestId("record-12");
  await expect(row).toBeVisible();
  if (SHOTS) await page.screenshot({ path: "docs/screenshots/datasets.png" });

  // Keeps the {{name}}/{{author}} placeholders: greatbot.spec.ts fills this template later.
  const edited = "I am {{name}}, trained by {{author}}. (edited in the browser)";
  await page.getByRole("button", { name: "Edit record 12" }).click();
  await row.getByLabel("output", { exact: true }).fill(edited);
  await row.getByRole("button", { name: "Save record" }).click();
  await expect(page.getByTestId("record-notice")).toHaveText("Record 12 saved.");
  await expect(page.getByTestId("record-12")).toContainText("(edited in the browser)");

  await page.reload();
  await expect(page.getByTestId("record-12")).toContainText("(edited in the browser)");
  expect(readRecords("identity.json")[12]?.output).toBe(edited);
  expect(readRecords("identity.json")).toHaveLength(164);
});

test("a bad edit is refused at the field, naming the record, and nothing is written", async ({ page }) => {
  await page.goto("/datasets?preview=identity");
  const before = readFileSync(path.join(DATA, "identity.json"), "utf8");
  const row = page.getByTestId("record-3");
  await page.getByRole("button", { name: "Edit record 3" }).click();
  await row.getByLabel("output", { exact: true }).fill("   ");
  await row.getByRole("button", { name: "Save record" }).click();
  await expect(row.getByTestId("error-field-output")).toHaveText("record 3: output: must be a non-empty string");
  await expect(row.getByLabel("output", { exact: true })).toHaveAttribute("aria-invalid", "true");
  // What the user typed is still there to fix, and the file is untouched.
  await expect(row.getByLabel("output", { exact: true })).toHaveValue("   ");
  expect(readFileSync(path.join(DATA, "identity.json"), "utf8")).toBe(before);
  await row.getByRole("button", { name: "Cancel" }).click();
  await expect(row.getByTestId("record-editor")).toHaveCount(0);
});

test("import a CSV with column mapping: registered, previewable, right count; add and delete a record", async ({ page }) => {
  const name = `faq_${Date.now().toString(36)}`;
  const csv = Buffer.from(
    [
      "question,answer,persona",
      "Who are you?,I am the FAQ bot.,Be friendly",
      'What do you do?,"Answer questions, mostly.",Be friendly',
      "Opening hours?,Nine to five.,",
      '"Say ""hi""?","Hi! ""quoted""",Be brief',
    ].join("\n"),
  );
  // The size limit is enforced by the server, whatever the browser does.
  const big = await page.request.post("/api/datasets/import", {
    multipart: { file: { name: "big.json", mimeType: "application/json", buffer: Buffer.alloc(20 * 1024 * 1024 + 1, 32) } },
  });
  expect(big.status()).toBe(413);
  expect((await big.json()).message).toContain("the import limit is 20.0 MB");

  await page.goto("/datasets");
  await page.getByLabel("File to import").setInputFiles({ name: "faq.csv", mimeType: "text/csv", buffer: csv });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByTestId("import-summary")).toContainText("faq.csv: 4 records; columns: question, answer, persona");

  // The guess maps question/answer; the system prompt comes from the persona column.
  await expect(page.getByLabel("Format", { exact: true })).toHaveValue("alpaca");
  await expect(page.getByLabel("Instruction column")).toHaveValue("question");
  await expect(page.getByLabel("Output column")).toHaveValue("answer");
  await page.getByLabel("System prompt column").selectOption("persona");
  await expect(page.getByTestId("import-preview")).toContainText('"system": "Be friendly"');
  await expect(page.getByTestId("import-preview")).toContainText('"output": "Answer questions, mostly."');

  // A wrong mapping is named in the preview before anything is written.
  await page.getByLabel("Output column").selectOption("persona");
  await expect(page.getByTestId("import-preview-error")).toContainText("record 2: output: must be a non-empty string");
  await page.getByLabel("Output column").selectOption("answer");

  await page.getByLabel("Dataset name").fill(name);
  await page.getByRole("button", { name: "Register dataset" }).click();
  await page.waitForURL(new RegExp(`preview=${name}`));
  await expect(page.getByTestId(`dataset-${name}-records`)).toHaveText("4");
  await expect(page.getByTestId("record-3")).toContainText('Hi! "quoted"');
  const info_ = JSON.parse(readFileSync(path.join(DATA, "dataset_info.json"), "utf8")) as Record<string, unknown>;
  expect(info_[name]).toEqual({
    file_name: `${name}.json`,
    formatting: "alpaca",
    columns: { prompt: "instruction", query: "input", response: "output", system: "system" },
  });
  expect(readRecords(`${name}.json`)[1]).toEqual({ instruction: "What do you do?", input: "", output: "Answer questions, mostly.", system: "Be friendly" });

  // Add a record, then delete another one.
  await page.getByRole("button", { name: "Add record" }).click();
  const editor = page.getByTestId("record-editor");
  await editor.getByLabel("instruction", { exact: true }).fill("Where are you?");
  await editor.getByLabel("output", { exact: true }).fill("In the cloud.");
  await editor.getByRole("button", { name: "Save record" }).click();
  await expect(page.getByTestId("record-notice")).toHaveText("Record 4 added.");
  await expect(page.getByTestId(`dataset-${name}-records`)).toHaveText("5");
  await page.getByRole("button", { name: "Delete record 0" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.getByTestId("record-notice")).toHaveText("Record 0 deleted.");
  await expect(page.getByTestId(`dataset-${name}-records`)).toHaveText("4");
  expect(readRecords(`${name}.json`).map((r) => r.instruction)).toEqual(["What do you do?", "Opening hours?", 'Say "hi"?', "Where are you?"]);
});

test("a sharegpt conversation edited turn by turn: reply changed, exchange added, reordered; a bad order refused at its turn", async ({ page }) => {
  test.setTimeout(240_000);
  const name = `chat_${Date.now().toString(36)}`;
  const records = [
    { conversations: [{ from: "human", value: "Who are you?" }, { from: "gpt", value: "I am a bot." }] },
    { conversations: [{ from: "system", value: "Be brief." }, { from: "human", value: "Hi" }, { from: "gpt", value: "Hello" }] },
  ];
  await page.goto("/datasets");
  await page.getByLabel("File to import").setInputFiles({ name: "chat.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(records)) });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByLabel("Format", { exact: true })).toHaveValue("sharegpt");
  await page.getByLabel("Dataset name").fill(name);
  await page.getByRole("button", { name: "Register dataset" }).click();
  await page.waitForURL(new RegExp(`preview=${name}`));
  await expect(page.getByTestId(`dataset-${name}-records`)).toHaveText("2");

  // The table lists the turns with their tags; the system message is turn 1 of record 1.
  await expect(page.getByTestId("record-1")).toContainText("Be brief.");
  await page.getByRole("button", { name: "Edit record 0" }).click();
  const row = page.getByTestId("record-0");
  const editor = row.getByTestId("turn-editor");
  await expect(editor.getByLabel("Role of turn 1")).toHaveValue("user");
  await expect(editor.getByLabel("Role of turn 2")).toHaveValue("assistant");
  // The roles the default tags define, system only at the top.
  await expect(editor.getByLabel("Role of turn 1").locator("option")).toHaveText(['System (“system”)', 'User (“human”)', 'Assistant (“gpt”)', "Observation (tool result) (“observation”)", "Function call (“function_call”)"]);
  await expect(editor.getByLabel("Role of turn 2").locator("option")).toHaveCount(4);

  // Change the reply, add an exchange, then move it to the front.
  await editor.getByLabel("Text of turn 2").fill("I am Tuneboard's bot.");
  await editor.getByRole("button", { name: "Add user + assistant" }).click();
  await expect(editor.getByLabel("Text of turn 3")).toBeFocused();
  await editor.getByLabel("Text of turn 3").fill("What can you do?");
  await editor.getByLabel("Text of turn 4").fill("Answer questions.");
  await editor.getByRole("button", { name: "Move turn 3 up" }).click();
  await editor.getByRole("button", { name: "Move turn 2 up" }).click();
  await editor.getByRole("button", { name: "Move turn 4 up" }).click();
  await editor.getByRole("button", { name: "Move turn 3 up" }).click();
  await expect(editor.getByLabel("Text of turn 1")).toHaveValue("What can you do?");
  await expect(editor.getByLabel("Text of turn 2")).toHaveValue("Answer questions.");
  await noSeriousA11yViolations(page);
  if (SHOTS) {
    await page.setViewportSize({ width: 1280, height: 900 });
    await editor.scrollIntoViewIfNeeded();
    await page.screenshot({ path: "docs/screenshots/dataset-turns.png" });
  }
  await editor.getByRole("button", { name: "Save record" }).click();
  await expect(page.getByTestId("record-notice")).toHaveText("Record 0 saved.");

  await page.reload();
  await expect(page.getByTestId("record-0")).toContainText("Answer questions.");
  const saved = [
    {
      conversations: [
        { from: "human", value: "What can you do?" },
        { from: "gpt", value: "Answer questions." },
        { from: "human", value: "Who are you?" },
        { from: "gpt", value: "I am Tuneboard's bot." },
      ],
    },
    records[1],
  ];
  expect(readRecords(`${name}.json`)).toEqual(saved);

  // A reply moved above its question: refused at that turn, before anything is sent; and the
  // record on disk is unchanged.
  const before = readFileSync(path.join(DATA, `${name}.json`), "utf8");
  await page.getByRole("button", { name: "Edit record 0" }).click();
  await editor.getByRole("button", { name: "Move turn 1 down" }).click();
  await editor.getByRole("button", { name: "Save record" }).click();
  await expect(editor.getByTestId("turn-error-0")).toHaveText("Expected User or Observation (tool result) here: turns alternate user/assistant, starting with user.");
  await expect(editor.getByLabel("Role of turn 1")).toHaveAttribute("aria-invalid", "true");
  await expect(editor.getByTestId("turn-error-1")).toHaveCount(0);
  if (SHOTS) {
    await editor.scrollIntoViewIfNeeded();
    await page.screenshot({ path: "docs/screenshots/dataset-turns-error.png" });
  }
  // Fixing the order clears the message as it is fixed.
  await editor.getByRole("button", { name: "Move turn 2 up" }).click();
  await expect(editor.getByTestId("turn-error-0")).toHaveCount(0);
  // A question with no reply: the error is at the last turn.
  await editor.getByRole("button", { name: "Add turn" }).click();
  await editor.getByLabel("Text of turn 5").fill("And then?");
  await editor.getByRole("button", { name: "Save record" }).click();
  await expect(editor.getByTestId("turn-error-4")).toContainText("must end with an assistant reply");
  expect(readFileSync(path.join(DATA, `${name}.json`), "utf8")).toBe(before);

  // The raw JSON editor is still there as a fallback.
  await editor.getByRole("button", { name: "Edit as JSON" }).click();
  await expect(row.getByLabel(/^conversations/)).toHaveValue(/"What can you do\?"/);
  await row.getByRole("button", { name: "Edit turn by turn" }).click();
  await row.getByRole("button", { name: "Cancel" }).click();

  // The edited record as the model sees it: rendered by the trainer's code.
  await page.getByLabel(/^Record \(0–1\)/).fill("0");
  await page.getByRole("button", { name: "Show tokens" }).click();
  await expect(page.getByTestId("token-count")).toContainText(/Record 0 with llama3: \d+ tokens/, { timeout: 90_000 });
  // The stream shows spaces as "·"; the reply moved to the front is the first trained text.
  await expect(page.getByTestId("token-stream")).toContainText("Answer·questions.");
});

test("as the model sees it: identity record through llama3 and the demo tokenizer, with the length histogram", async ({ page }) => {
  test.setTimeout(240_000);
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto("/datasets?preview=identity");
  await expect(page.getByLabel("Tokenizer of model")).toHaveValue(/tuneboard-demo$/);
  await expect(page.getByLabel("Chat template")).toHaveValue("llama3");
  await page.getByLabel("Cutoff length (tokens)").fill("40");
  await page.getByRole("button", { name: "Show tokens" }).click();

  const count = page.getByTestId("token-count");
  await expect(count).toContainText(/Record 0 with llama3: \d+ tokens, \d+ trained, \d+ prompt\./, { timeout: 90_000 });
  const trained = page.locator('[data-testid="token-stream"] [data-trained="true"]');
  expect(await trained.count()).toBeGreaterThan(5);
  await expect(trained.last()).toHaveText("<|eot_id|>");
  await expect(page.locator('[data-testid="token-stream"] [data-trained="false"]').first()).toHaveText("<|begin_of_text|>");
  await expect(trained.first()).toBeVisible();

  const histogram = page.getByTestId("length-histogram");
  await expect(histogram).toBeVisible();
  await expect(page.getByTestId("cutoff-line")).toBeAttached();
  expect(await histogram.locator("rect").count()).toBeGreaterThan(1);
  await expect(page.getByTestId("over-cutoff")).toContainText(/\d+ of 164 records exceed the cutoff length 40/);
  const over = Number(await histogram.getAttribute("data-over"));
  expect(over).toBeGreaterThan(0);
  expect(over).toBeLessThan(164);

  // A record that does not exist is refused at the record field.
  await page.getByLabel("Record (0–163)").fill("500");
  await page.getByRole("button", { name: "Show tokens" }).click();
  await expect(page.getByTestId("tokens-error-record")).toContainText("record 500 does not exist", { timeout: 90_000 });
  await page.getByLabel("Record (0–163)").fill("0");
  await page.getByRole("button", { name: "Show tokens" }).click();
  await expect(page.getByTestId("tokens-error-record")).toHaveCount(0, { timeout: 90_000 });

  if (SHOTS) {
    await page.getByTestId("token-view").scrollIntoViewIfNeeded();
    await page.getByRole("heading", { name: "As the model sees it" }).evaluate((el) => el.scrollIntoView({ block: "start" }));
    await page.screenshot({ path: "docs/screenshots/dataset-tokens.png" });
  }
  await noSeriousA11yViolations(page);
});

test("epochs advice warns when the dataset is too small for the plan", async ({ page }) => {
  await page.goto("/datasets?preview=identity");
  await expect(page.getByTestId("epoch-steps")).toHaveText("164 records, effective batch 16: 11 optimizer steps per epoch, 33 in all.");
  await expect(page.getByTestId("epoch-warning-few_steps")).toHaveCount(0);
  await page.getByLabel("Epochs", { exact: true }).fill("1");
  await expect(page.getByTestId("epoch-warning-few_steps")).toContainText("Only 11 optimizer steps");
  await page.getByLabel("Gradient accumulation").fill("1");
  await expect(page.getByTestId("epoch-steps")).toContainText("82 optimizer steps per epoch, 82 in all");
  await expect(page.getByTestId("epoch-warning-few_steps")).toHaveCount(0);
});

test("the Datasets page in Chinese", async ({ page, context, baseURL }) => {
  await context.addCookies([{ name: "tb_locale", value: "zh", url: baseURL! }]);
  await page.goto("/datasets?preview=identity");
  await expect(page.getByRole("heading", { name: "数据集", exact: true })).toBeVisible();
  await expect(page.getByRole("heading", { name: "模型眼中的数据" })).toBeVisible();
  await expect(page.getByTestId("preview-page")).toHaveText("第 1 / 17 页");
  await expect(page.getByLabel("模型名称")).toBeVisible();
  await context.clearCookies();
});
