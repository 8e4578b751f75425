// Tests work in a throwaway data folder seeded from the tracked templates (data/templates/) the
// way set-up seeds a user's, never in the user's own data folder. The demo model under
// data/models/ is the one shared, read-only exception (set-up writes it; tests only read it).
import { mkdtemp, readFile, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach } from "vitest";
import type { DatasetError } from "../datasets/errors";
import { seedDataDir, templatesDir } from "../datasets/seed";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The bundled datasets, read-only. */
export const TEMPLATES_DIR = templatesDir(REPO_ROOT);
/** The models folder holding the demo model; tests must only read it. */
export const SHARED_MODELS_DIR = path.join(REPO_ROOT, "data", "models");

export interface TempData {
  /** Parent temp folder (outside dataDir), for planting files a test must not be able to reach. */
  base: string;
  dataDir: string;
  cleanup: () => Promise<void>;
}

/** Seeds `dataDir` (created when missing) from the templates, as set-up does on first start. */
export async function seedFromTemplates(dataDir: string): Promise<void> {
  await seedDataDir(TEMPLATES_DIR, dataDir);
}

/** A fresh temp folder holding `data/` seeded from the templates. */
export async function createTempData(): Promise<TempData> {
  // realpath: on macOS tmpdir() is a symlink, and resolveInside returns canonical paths.
  const base = await realpath(await mkdtemp(path.join(tmpdir(), "tuneboard-datasets-")));
  const dataDir = path.join(base, "data");
  await seedFromTemplates(dataDir);
  return { base, dataDir, cleanup: () => rm(base, { recursive: true, force: true }) };
}

/** A fresh seeded data folder for each test of the calling file (beforeEach/afterEach), with the two
 *  helpers the edit tests share: read a file of the copy, and catch the refusal a promise must end in. */
export function useTempData() {
  let tmp: TempData | undefined;
  beforeEach(async () => {
    tmp = await createTempData();
  });
  afterEach(async () => {
    await tmp?.cleanup();
  });
  const current = (): TempData => {
    if (!tmp) throw new Error("useTempData: only inside a test");
    return tmp;
  };
  return {
    get dataDir() {
      return current().dataDir;
    },
    readText: (file: string) => readFile(path.join(current().dataDir, file), "utf8"),
    caught: (p: Promise<unknown>) =>
      p.then(() => { throw new Error("expected a refusal"); }, (e: unknown) => e as DatasetError),
  };
}
