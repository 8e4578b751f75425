// Every vitest file starts with the database and data settings pointing outside the repository
// (lib/test-support/isolated-env.ts), so a test that configures nothing cannot reach the user's data.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadEnv } from "../env";
import { isWithin } from "../datasets/roots";
import { REPO_ROOT, TEMPLATES_DIR } from "./temp-data";

describe("the test environment", () => {
  it("points the database, data, runs and exports folders outside the repository", () => {
    const e = loadEnv(process.env);
    for (const p of [e.dataDir, e.runsDir, path.resolve(process.env.TUNEBOARD_EXPORTS_DIR!)]) {
      expect(isWithin(REPO_ROOT, p), p).toBe(false);
    }
    expect(e.DATABASE_URL.startsWith("file:")).toBe(true);
    expect(isWithin(REPO_ROOT, path.resolve(e.DATABASE_URL.slice("file:".length))), e.DATABASE_URL).toBe(false);
  });

  it("gives the default data folder the templates' registry", async () => {
    const registry = await readFile(path.join(loadEnv(process.env).dataDir, "dataset_info.json"), "utf8");
    expect(registry).toBe(await readFile(path.join(TEMPLATES_DIR, "dataset_info.json"), "utf8"));
  });
});
