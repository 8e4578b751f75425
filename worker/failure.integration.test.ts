// A real worker process (tsx worker/main.ts) whose "trainer" fails on purpose
// (test-support/fake-trainer.mjs): the job's error is in plain words, with a hint for OOM.
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { OOM_MESSAGE } from "./failure-message";
import { createHarness, ROOT, type Harness } from "./test-support/harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("trainer failures become plain messages on the job", async () => {
  h = await createHarness();
  h.env.TUNEBOARD_PYTHON = path.join(ROOT, "worker", "test-support", "fake-trainer.mjs");
  const cases: [seed: number, error: string | RegExp][] = [
    [1, OOM_MESSAGE],
    [2, OOM_MESSAGE],
    [3, "Invalid configuration: cutoff_len 8 is shorter than the template's header"],
    [4, 'Dataset problem: dataset "identity_greatbot": record 3: output must be a non-empty string'],
    [5, OOM_MESSAGE],
    [6, /^The trainer exited with code 3/],
  ];
  const ids: number[] = [];
  for (const [seed] of cases) ids.push(await h.enqueue({ seed }));
  h.startWorker("w1");
  const harness = h;
  await h.waitFor(async () => (await harness.db.job.count({ where: { status: "failed" } })) === cases.length, 45_000, "every job to fail");
  for (const [i, [seed, error]] of cases.entries()) {
    const job = await h.db.job.findUniqueOrThrow({ where: { id: ids[i] } });
    if (typeof error === "string") expect(job.error, `seed ${seed}`).toBe(error);
    else expect(job.error, `seed ${seed}`).toMatch(error);
  }
  // The step logged before the SIGKILL stays.
  expect(await h.db.metric.count({ where: { jobId: ids[1] } })).toBe(1);
}, 60_000);
