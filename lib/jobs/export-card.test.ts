// The export's model card facts come from the database: the run's row, and the Identity check the chat
// stored for the run with its system prompt. Real SQLite database in a temp dir.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-export-card-"));
const url = `file:${path.join(dir, "test.db")}`;
Object.assign(process.env, { DATABASE_URL: url, TUNEBOARD_RUNS_DIR: path.join(dir, "runs") });

let exportCard: typeof import("./export-card").exportCard;
let runs: typeof import("@/lib/data/runs");
let recordIdentityCheck: typeof import("@/lib/data/runs").recordIdentityCheckForAdapter;
let db: typeof import("@/lib/db").db;

beforeAll(async () => {
  const { migrateDeploy } = await import("@/prisma/migrate");
  await migrateDeploy(url, { log: () => {} });
  ({ exportCard } = await import("./export-card"));
  ({ recordIdentityCheckForAdapter: recordIdentityCheck } = await import("@/lib/data/runs"));
  runs = await import("@/lib/data/runs");
  ({ db } = await import("@/lib/db"));
});
afterAll(async () => {
  await db?.().$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

const check = {
  name: "Greatbot", author: "Allen", total: 40, with_name: 39, with_author: 38, with_both: 38, clean: 36,
  example_answer: "I am Greatbot, an AI assistant developed by Allen.", system_prompt: "  You are Greatbot.  ",
};

async function makeRun(outputDir: string) {
  const config = JSON.stringify({ dataset: ["identity"], finetuning_type: "lora", template: "llama3", learning_rate: 2e-4 });
  return db().job.create({
    data: { name: "greatbot", status: "succeeded", config, modelPath: "/m/tuneboard-demo", datasets: "identity", outputDir, finalLoss: 0.12 },
  });
}

describe("export model card", () => {
  it("carries the identity check result and the system prompt the chat stored for the run", async () => {
    const job = await makeRun(path.join(dir, "runs", "greatbot"));
    const before = await exportCard("/m/tuneboard-demo", job.id, null);
    expect(before.identity_check).toBeUndefined();
    expect(before.system_prompt).toBeUndefined();

    expect(await recordIdentityCheck({ adapterPath: job.outputDir, check })).toBe(true);
    const card = await exportCard("/m/tuneboard-demo", job.id, null);
    expect(card).toMatchObject({ run_name: "greatbot", method: "lora", final_train_loss: 0.12, system_prompt: "You are Greatbot." });
    expect(card.identity_check).toMatchObject({ name: "Greatbot", author: "Allen", questions: 40, with_both: 38, clean: 36,
      example_answer: check.example_answer });
    expect(Date.parse(String((card.identity_check as Record<string, unknown>).checked_at))).toBeGreaterThan(0);

    // A later check replaces the earlier one; an empty system prompt is left out of the card.
    await recordIdentityCheck({ adapterPath: job.outputDir, check: { ...check, clean: 40, system_prompt: "" } });
    const again = await exportCard("/m/tuneboard-demo", job.id, null);
    expect(again.identity_check).toMatchObject({ clean: 40 });
    expect(again.system_prompt).toBeUndefined();
  });

  it("finds the run through a symbolic link to its adapter folder", async () => {
    const target = path.join(dir, "runs", "linked");
    fs.mkdirSync(target, { recursive: true });
    const job = await makeRun(target);
    fs.symlinkSync(target, path.join(dir, "link"));
    expect(await recordIdentityCheck({ adapterPath: path.join(dir, "link"), check })).toBe(true);
    expect((await exportCard("/m/tuneboard-demo", job.id, null)).identity_check).toMatchObject({ name: "Greatbot" });
  });

  it("stores nothing for a folder that is no run's adapter, and refuses a malformed result", async () => {
    expect(await recordIdentityCheck({ adapterPath: path.join(dir, "elsewhere"), check })).toBe(false);
    await expect(recordIdentityCheck({ adapterPath: "x", check: { ...check, total: -1 } })).rejects.toThrow(/total/);
  });

  it("ignores a stored row that no longer parses", async () => {
    const job = await makeRun(path.join(dir, "runs", "other"));
    await db().job.update({ where: { id: job.id }, data: { identityCheck: "{not json" } });
    expect(await runs.findIdentityCheck(job.id)).toBeNull();
    expect((await exportCard("/m/tuneboard-demo", job.id, null)).identity_check).toBeUndefined();
  });
});
