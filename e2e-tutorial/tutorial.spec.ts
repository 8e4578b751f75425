// The README's tutorial as a user does it, against the server and worker `npm start` runs with
// default settings, so it writes into the user's own data folder and database. Run only by
// scripts/tutorial-check.mjs (its own config, playwright.tutorial.config.ts), never by `npm test`:
// the check then proves that the whole test suite leaves these files byte-identical.
import { expect, test } from "@playwright/test";

test.describe.configure({ mode: "serial" });

test("identity form → identity_greatbot registered", async ({ page }) => {
  await page.goto("/datasets");
  await expect(page.getByTestId("dataset-identity")).toBeVisible();
  // CI runs this on a clean clone; on a clone where the tutorial was done before, it is kept as is.
  test.skip((await page.getByTestId("dataset-identity_greatbot").count()) > 0, "identity_greatbot exists already");
  await page.getByLabel("Model name").fill("Greatbot");
  await page.getByLabel("Author").fill("Allen");
  await expect(page.getByLabel("Save as")).toHaveValue("identity_greatbot");
  await page.getByRole("button", { name: "Save copy" }).click();
  await expect(page.getByTestId("identity-created")).toContainText("identity_greatbot.json");
  await expect(page.getByTestId("dataset-identity_greatbot")).toBeVisible();
});

test("a short demo run on identity_greatbot finishes", async ({ page }) => {
  test.setTimeout(10 * 60_000);
  await page.goto("/train");
  for (const box of await page.locator('input[name="dataset"]:checked').all()) await box.uncheck();
  await page.getByLabel("identity_greatbot").check();
  // One pass over the data instead of the preset's ten: the check is about the files a run
  // writes, not about what the model learns.
  await page.getByLabel("Epochs").fill("1");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  await expect(page.getByTestId("run-status")).toHaveText("succeeded", { timeout: 9 * 60_000 });
});
