// Several real processes claim from one database at once (a SQLite file; a PostgreSQL server,
// where claims use FOR UPDATE SKIP LOCKED): every job is claimed exactly once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresAvailable, stopTestPostgres } from "@/lib/test-support/pg-test";
import type { DatabaseProvider } from "../../prisma/database-url";
import { enqueueJob } from "./enqueue";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";
import { startFixture, type FixtureProcess } from "@/lib/test-support/fixture-process";

const JOBS = 30;
const WORKERS = 4;

const providers: DatabaseProvider[] = postgresAvailable ? ["sqlite", "postgresql"] : ["sqlite"];
afterAll(() => stopTestPostgres());

describe.each(providers)("%s", (provider) => {
let t: TempDb;
beforeAll(async () => {
  t = await tempDb("tuneboard-queue-", provider);
});
afterAll(async () => {
  await t?.cleanup();
});

type Child = FixtureProcess<{ workerId: string; claimed: number[] }>;

function startChild(workerId: string): Child {
  return startFixture<{ workerId: string; claimed: number[] }>("claim-loop.fixture.ts", [t.url, workerId], workerId);
}

it(`${WORKERS} processes claiming ${JOBS} jobs: each job claimed exactly once`, async () => {
  const ids: number[] = [];
  for (let i = 0; i < JOBS; i++) {
    ids.push((await enqueueJob({ name: `job-${i}`, config: "{}", modelPath: "/m", datasets: "d" }, t.client)).id);
  }
  // All children connect first, then start claiming at the same moment.
  const children = Array.from({ length: WORKERS }, (_, i) => startChild(`worker-${i}`));
  await Promise.all(children.map((c) => c.ready));
  children.forEach((c) => c.go());
  const results = await Promise.all(children.map((c) => c.result));

  const all = results.flatMap((r) => r.claimed);
  expect(all).toHaveLength(JOBS); // nobody claimed a job twice…
  expect(new Set(all).size).toBe(JOBS);
  expect([...all].sort((a, b) => a - b)).toEqual(ids); // …and every job was claimed

  const rows = await t.client.job.findMany({ orderBy: { id: "asc" } });
  for (const row of rows) {
    expect(row.status).toBe("succeeded");
    expect(row.attempts).toBe(1);
    const owner = results.find((r) => r.claimed.includes(row.id))!;
    expect(row.workerId).toBe(owner.workerId);
  }
  // Report how the work was shared (not asserted: scheduling decides).
  console.log("claims per worker:", results.map((r) => `${r.workerId}=${r.claimed.length}`).join(" "));
}, 60_000);
});
