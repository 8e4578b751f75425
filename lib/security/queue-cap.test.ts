// The queue cap on a real, migrated SQLite database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";
import { enqueueJob } from "@/lib/queue/enqueue";
import { queueFullReason } from "./queue-cap";

let database: TempDb;
beforeAll(async () => {
  database = await tempDb("tuneboard-queue-cap-");
});
afterAll(async () => database?.cleanup());

describe("queued jobs cap", () => {
  it("has room below the cap, refuses at it, and counts only queued jobs", async () => {
    const job = { name: "j", config: "{}", modelPath: "/m", datasets: "d" };
    expect(await queueFullReason(database.client, 2)).toBeNull();
    await enqueueJob(job, database.client);
    const second = await enqueueJob(job, database.client);
    expect(await queueFullReason(database.client, 2)).toMatch(/already holds 2 jobs \(TUNEBOARD_MAX_QUEUED_JOBS=2\)/);
    await database.client.job.update({ where: { id: second.id }, data: { status: "running" } });
    expect(await queueFullReason(database.client, 2)).toBeNull();
  });
});
