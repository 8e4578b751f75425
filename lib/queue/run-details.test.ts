import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { enqueueJob } from "./enqueue";
import { claimJob } from "./claim";
import { recordFastPathOptions } from "./run-details";
import { trainRunDetailsSchema } from "../schemas/fast-path-options";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";

let t: TempDb;
beforeEach(async () => {
  t = await tempDb("tuneboard-run-details-");
});
afterEach(async () => {
  await t.cleanup();
});

const options = { mode: "auto", compile: false, cuda_graphs: true, keep_swiglu: null, max_tokens: 2048, active: true };

describe("recordFastPathOptions", () => {
  it("stores the options on the running train job while the lease is held", async () => {
    const job = await enqueueJob({ name: "r", config: "{}", modelPath: "m", datasets: "d" }, t.client);
    await claimJob("w1", {}, t.client);
    expect(await recordFastPathOptions(job.id, "w1", options, t.client)).toBe(true);
    const row = await t.client.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(trainRunDetailsSchema.parse(JSON.parse(row.result!))).toEqual({ fastPathOptions: options });
  });

  it("writes nothing for a worker that does not hold the job", async () => {
    const job = await enqueueJob({ name: "r", config: "{}", modelPath: "m", datasets: "d" }, t.client);
    await claimJob("w1", {}, t.client);
    expect(await recordFastPathOptions(job.id, "w2", options, t.client)).toBe(false);
    expect((await t.client.job.findUniqueOrThrow({ where: { id: job.id } })).result).toBeNull();
  });

  it("rejects nested values", async () => {
    const job = await enqueueJob({ name: "r", config: "{}", modelPath: "m", datasets: "d" }, t.client);
    await claimJob("w1", {}, t.client);
    await expect(recordFastPathOptions(job.id, "w1", { nested: { a: 1 } } as never, t.client)).rejects.toThrow();
  });
});
