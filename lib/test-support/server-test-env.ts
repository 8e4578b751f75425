// Test helper for server code that reads env() and db() itself (createRun, createEval, continueRun…):
// a temp folder holding the data, models, runs and exports folders and a SQLite database, named by
// the same environment variables the server reads. test-db.ts's tempDb hands a test its own client
// instead; this one points the app's own settings at the folder, so the module under test must be
// imported (dynamically) after serverTestEnv() has run.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { seedFromTemplates, REPO_ROOT } from "./temp-data";

export interface ServerTestEnv {
  dir: string;
  dataDir: string;
  modelsDir: string;
  runsDir: string;
  exportsDir: string;
  url: string;
  /** Seeds the data folder from the templates and migrates the database. */
  prepare: () => Promise<void>;
  /** A minimal model folder (config, weights file, tokenizer: what inspectModel checks); `config` adds
   *  config.json fields (sizes, for the parameter count). */
  makeModel: (name: string, architecture?: string, config?: Record<string, unknown>) => string;
  /** Disconnects the app's database client and removes the folder. */
  cleanup: () => Promise<void>;
}

/** Creates the folder and sets DATABASE_URL and the TUNEBOARD_* folders to it (synchronously, so it
 *  can run at the top of a test file, before anything reads the settings). */
export function serverTestEnv(prefix: string): ServerTestEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dataDir = path.join(dir, "data");
  const modelsDir = path.join(dir, "models");
  const runsDir = path.join(dir, "runs");
  const exportsDir = path.join(dir, "exports");
  const url = `file:${path.join(dir, "test.db")}`;
  Object.assign(process.env, {
    DATABASE_URL: url,
    TUNEBOARD_ROOT: REPO_ROOT,
    TUNEBOARD_DATA_DIR: dataDir,
    TUNEBOARD_MODEL_ROOTS: modelsDir,
    TUNEBOARD_RUNS_DIR: runsDir,
    TUNEBOARD_EXPORTS_DIR: exportsDir,
  });
  return {
    dir,
    dataDir,
    modelsDir,
    runsDir,
    exportsDir,
    url,
    prepare: async () => {
      await seedFromTemplates(dataDir);
      const { migrateDeploy } = await import("@/prisma/migrate");
      await migrateDeploy(url, { log: () => {} });
    },
    makeModel: (name, architecture = "LlamaForCausalLM", config = {}) => {
      const d = path.join(modelsDir, name);
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, "config.json"), JSON.stringify({ architectures: [architecture], hidden_size: 64, ...config }));
      fs.writeFileSync(path.join(d, "model.safetensors"), "");
      fs.writeFileSync(path.join(d, "tokenizer.json"), "{}");
      return d;
    },
    cleanup: async () => {
      await (await import("@/lib/db")).db().$disconnect();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
