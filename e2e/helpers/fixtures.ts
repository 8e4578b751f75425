// Shared set-up for the Train/pages specs: a usable dataset and a small demo-model run, created
// through the real app (the e2e server starts with only the identity template registered).
import { execFileSync } from "node:child_process";
import path from "node:path";
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { DEFAULT_RUN_CONFIG } from "../../lib/schemas/run-config";

export const E2E_DATASET = "identity_e2ebot";

/** Fills the identity template once (Datasets page), unless a previous spec already did. */
export async function ensureDataset(page: Page): Promise<string> {
  await page.goto("/datasets");
  if ((await page.getByTestId(`dataset-${E2E_DATASET}`).count()) === 0) {
    await page.getByLabel("Model name").fill("E2Ebot");
    await page.getByLabel("Author").fill("Tester");
    await page.getByLabel("Save as").fill(E2E_DATASET);
    await page.getByRole("button", { name: "Save copy" }).click();
    await expect(page.getByTestId(`dataset-${E2E_DATASET}`)).toBeVisible();
  }
  return E2E_DATASET;
}

/**
 * Leaves exactly `dataset` ticked on the Evaluate form. The form pre-ticks the newest filled dataset,
 * which another spec may have added after ours.
 */
export async function tickOnlyEvalDataset(page: Page, dataset: string): Promise<void> {
  for (const box of await page.locator('[data-testid^="eval-dataset-"] input[type="checkbox"]:checked').all()) await box.uncheck();
  await page.getByTestId(`eval-dataset-${dataset}`).getByRole("checkbox").check();
  await expect(page.locator('[data-testid^="eval-dataset-"] input[type="checkbox"]:checked')).toHaveCount(1);
}

/**
 * Queues a 1-step run of the demo model through POST /api/runs (the Train form's validation).
 * `overrides` replace run config fields (a spec that needs the bundled identity dataset names it).
 */
export async function createTinyRun(page: Page, name: string, overrides: Record<string, unknown> = {}): Promise<number> {
  const dataset = overrides.dataset ?? [await ensureDataset(page)];
  const res = await page.request.post("/api/runs", {
    data: {
      ...DEFAULT_RUN_CONFIG,
      name,
      model_name_or_path: "tuneboard-demo",
      max_steps: 1,
      cutoff_len: 64,
      per_device_train_batch_size: 1,
      gradient_accumulation_steps: 1,
      save_steps: 0,
      logging_steps: 1,
      ...overrides,
      dataset,
    },
  });
  expect(res.status(), await res.text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

/** The number the open Run page calls its run (its title "Run #N: name"): runs are numbered among runs, URLs use the database id. */
export async function shownRunNumber(page: Page): Promise<number> {
  const title = (await page.getByRole("heading", { level: 1 }).textContent()) ?? "";
  const m = /#(\d+)/.exec(title);
  if (!m) throw new Error(`no run number in the title ${JSON.stringify(title)}`);
  return Number(m[1]);
}

/** Waits until run `id` has finished and its adapter can be downloaded. */
export async function waitForAdapter(page: Page, id: number): Promise<void> {
  await expect
    .poll(async () => (await page.request.get(`/api/runs/${id}/adapter`)).status(), { timeout: 300_000, intervals: [2000] })
    .toBe(200);
}

/** Queues a run with exactly `config` through POST /api/runs (the Train form's validation); returns its id. */
export async function queueRun(request: APIRequestContext, config: Record<string, unknown>): Promise<number> {
  const res = await request.post("/api/runs", { data: config });
  expect(res.status(), await res.text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

/** The model root the e2e server adds for checkpoints the specs write (scripts/e2e-server.mjs). */
export const E2E_MODEL_ROOT = path.join(process.cwd(), "e2e", ".artifacts", "models");

/**
 * Writes a tiny random checkpoint of `family` with transformers into the e2e model root (the demo model's
 * tokenizer, no chat template) and returns its folder name. The Train page lists it on its next load.
 */
export function writeTinyCheckpoint(family: "glm4" | "gemma3"): string {
  const name = `tiny-${family}`;
  execFileSync(
    path.join(process.cwd(), ".venv", "bin", "python"),
    ["e2e/helpers/tiny_checkpoint.py", family, path.join(E2E_MODEL_ROOT, name), path.join("data", "models", "tuneboard-demo")],
    { stdio: "inherit" },
  );
  return name;
}
