// vitest globalSetup: before any test file loads, the settings that name the user's database and
// data folders point into a temp folder (a data folder seeded from the templates and a database
// that is never migrated), so a test that forgets to configure its own paths fails there instead
// of reading or writing the user's data. Tests that set their own paths override these.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { seedDataDir, templatesDir } from "../datasets/seed";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export default async function setup(): Promise<() => void> {
  const base = mkdtempSync(path.join(tmpdir(), "tuneboard-vitest-"));
  const dataDir = path.join(base, "data");
  await seedDataDir(templatesDir(REPO_ROOT), dataDir);
  Object.assign(process.env, {
    DATABASE_URL: `file:${path.join(base, "unmigrated.db")}`,
    TUNEBOARD_DATA_DIR: dataDir,
    TUNEBOARD_RUNS_DIR: path.join(base, "runs"),
    TUNEBOARD_EXPORTS_DIR: path.join(base, "exports"),
  });
  return () => rmSync(base, { recursive: true, force: true });
}
