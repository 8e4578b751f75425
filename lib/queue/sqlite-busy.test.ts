// SQLite under concurrent writers: several real processes record metrics into one WAL database
// file at the same moment (each for its own job, as workers do), while this process keeps
// reading. SQLite allows one writer at a time; the busy timeout (prisma/adapter.ts) must make the
// others wait rather than fail, so no write is lost.
import { afterAll, beforeAll, expect, it } from "vitest";
import { claimJob } from "./claim";
import { enqueueJob } from "./enqueue";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";
import { startFixture } from "@/lib/test-support/fixture-process";

const WRITERS = 4;
const METRICS = 200;

let t: TempDb;
beforeAll(async () => {
  t = await tempDb("tuneboard-busy-");
});
afterAll(async () => {
  await t?.cleanup();
});

interface Result {
  workerId: string;
  jobId: number;
  recorded: number;
  refused: number;
  slowestMs: number;
}

function startWriter(workerId: string, jobId: number) {
  return startFixture<Result>("progress-loop.fixture.ts", [t.url, workerId, String(jobId), String(METRICS)], workerId);
}

it(`${WRITERS} processes × ${METRICS} metrics on one WAL file: no write lost`, async () => {
  const mode = await t.client.$queryRawUnsafe<{ journal_mode: string }[]>("PRAGMA journal_mode");
  expect(mode[0].journal_mode).toBe("wal");
  // One running job per writer, held by that writer (claimJob takes the oldest queued job).
  const jobs: { workerId: string; jobId: number }[] = [];
  for (let i = 0; i < WRITERS; i++) {
    await enqueueJob({ name: `job-${i}`, config: "{}", modelPath: "/m", datasets: "d" }, t.client);
    const workerId = `writer-${i}`;
    const job = await claimJob(workerId, { leaseMs: 10 * 60_000 }, t.client);
    jobs.push({ workerId, jobId: job!.id });
  }

  const writers = jobs.map((j) => startWriter(j.workerId, j.jobId));
  await Promise.all(writers.map((w) => w.ready));
  writers.forEach((w) => w.go());
  // Meanwhile this process reads, as the server does for a job:subscribe.
  let reads = 0;
  let writing = true;
  const reader = (async () => {
    while (writing) {
      await t.client.metric.count();
      await t.client.metric.findMany({ where: { jobId: jobs[0].jobId }, orderBy: { step: "asc" } });
      reads++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const results = await Promise.all(writers.map((w) => w.result)).finally(() => (writing = false));
  await reader;

  for (const r of results) {
    expect(r.refused, `${r.workerId} was refused writes`).toBe(0);
    expect(r.recorded).toBe(METRICS);
  }
  expect(await t.client.metric.count()).toBe(WRITERS * METRICS);
  for (const { jobId } of jobs) {
    const steps = (await t.client.metric.findMany({ where: { jobId }, select: { step: true }, orderBy: { step: "asc" } })).map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: METRICS }, (_, i) => i + 1));
    const job = await t.client.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(job.step).toBe(METRICS);
    expect(job.logTail).toBe(`step ${METRICS}\n`);
  }
  expect(reads).toBeGreaterThan(0);
  console.log(`slowest write per process (ms): ${results.map((r) => `${r.workerId}=${r.slowestMs}`).join(" ")}; ${reads} reads meanwhile`);
}, 60_000);
