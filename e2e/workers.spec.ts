// The Workers panel against the real server and the e2e worker (scripts/e2e-server.mjs): the
// worker appears with its heartbeat, its GPUs (none on the CPU test machine) and its state.
import { expect, test } from "./helpers/test";

test("workers: the running worker is listed as online, with its GPUs and last-seen time", async ({ page }) => {
  await page.goto("/workers");
  await expect(page.getByRole("heading", { name: "Workers" })).toBeVisible();
  const row = page.locator("[data-testid^='worker-']").first();
  await expect(row).toBeVisible({ timeout: 30_000 });
  await expect(row).toContainText("online");
  await expect(row).toContainText(/CPU only|GiB/);
  await expect(row).toContainText(/s ago|min ago/);
});
