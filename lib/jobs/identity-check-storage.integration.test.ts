// The Chat page's Identity check lives on its run (Job.identityCheck): deleting the run deletes it,
// and the migration moves the checks stored as Setting rows run.<id>.identityCheck onto their runs.
// Real databases: SQLite, and PostgreSQL where it is installed (a server process: integration tier).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { migrateDeploy, providerPaths } from "@/prisma/migrate";
import type { DatabaseProvider } from "@/prisma/database-url";
import { createDb } from "@/lib/db";
import { enqueueJob } from "@/lib/queue/enqueue";
import { setIdentityCheck } from "@/lib/queue/identity-check";
import { postgresAvailable, stopTestPostgres } from "@/lib/test-support/pg-test";
import { tempDb } from "@/lib/test-support/test-db";
import { deleteRun } from "./delete-run";

afterAll(() => stopTestPostgres());

const CHECK = JSON.stringify({ name: "Greatbot", author: "Allen", total: 3, with_name: 3, with_author: 3, with_both: 3, clean: 3 });

describe.each((postgresAvailable ? ["sqlite", "postgresql"] : ["sqlite"]) as DatabaseProvider[])("%s", (provider) => {
  it("deleting a run leaves no identity-check row", async () => {
    const t = await tempDb("tuneboard-identity-", provider);
    try {
      const job = await enqueueJob({ name: "r", config: "{}", modelPath: "/m", datasets: "d" }, t.client);
      await t.client.job.update({ where: { id: job.id }, data: { status: "succeeded" } });
      expect(await setIdentityCheck(job.id, CHECK, t.client)).toBe(true);
      expect((await t.client.job.findUniqueOrThrow({ where: { id: job.id } })).identityCheck).toBe(CHECK);

      expect(await deleteRun(job.id, { runsDir: path.join(t.dir, "runs") }, t.client)).toMatchObject({ ok: true });
      expect(await t.client.job.count({ where: { identityCheck: { not: null } } })).toBe(0);
      expect(await t.client.setting.count()).toBe(0);
      expect(await setIdentityCheck(job.id, CHECK, t.client)).toBe(false); // a deleted run gets none back
    } finally {
      await t.cleanup();
    }
  });
});

it("the migration moves Setting-row identity checks onto their runs and drops those of deleted runs", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-identity-migrate-"));
  const url = `file:${path.join(dir, "old.db")}`;
  // The migration history up to the one that adds the column.
  const { migrationsDir } = providerPaths("sqlite");
  const older = path.join(dir, "migrations");
  fs.cpSync(migrationsDir, older, { recursive: true });
  const moving = fs.readdirSync(older).filter((d) => d.endsWith("_job_identity_check"));
  expect(moving).toHaveLength(1);
  fs.rmSync(path.join(older, moving[0]), { recursive: true });
  for (const later of fs.readdirSync(older).filter((d) => d > moving[0] && d !== "migration_lock.toml")) fs.rmSync(path.join(older, later), { recursive: true });
  await migrateDeploy(url, { migrationsDir: older });
  const before = createDb(url);
  let id = 0;
  try {
    await before.$executeRawUnsafe(`INSERT INTO "Job" (name, config, modelPath, datasets) VALUES ('kept', '{}', '/m', 'd')`);
    ({ id } = (await before.$queryRawUnsafe<{ id: number }[]>(`SELECT id FROM "Job"`))[0]);
    await before.$executeRawUnsafe(`INSERT INTO "Setting" (key, value, updatedAt) VALUES (?, ?, 0), (?, ?, 0), ('ui.locale', 'zh', 0)`,
      `run.${id}.identityCheck`, CHECK, `run.${id + 1}.identityCheck`, CHECK);
  } finally {
    await before.$disconnect(); // the migration needs the file to itself
  }
  await migrateDeploy(url);
  const after = createDb(url);
  try {
    expect((await after.job.findUniqueOrThrow({ where: { id } })).identityCheck).toBe(CHECK);
    expect((await after.setting.findMany()).map((s) => s.key)).toEqual(["ui.locale"]);
  } finally {
    await after.$disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
