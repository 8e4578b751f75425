// The server restarts in the middle of a run. Real processes: server.ts (the built Next app,
// `npx next build` first), one worker (tsx worker/main.ts), the Python trainer on the demo model,
// and a socket.io client playing the browser's Run page (components/RunLive.tsx: subscribe on
// every connect, merge the ack's history and live points by step).
// While the server is down the worker keeps training and writing metrics to the database; its
// live emits are buffered by socket.io-client. After the restart the browser re-subscribes and
// gets the whole history from the database: nothing is missing, nothing doubled.
import type { ChildProcess } from "node:child_process";
import { io as connect, type Socket } from "socket.io-client";
import { afterEach, expect, it } from "vitest";
import type { JobSnapshot, JobStatusUpdate, MetricPoint } from "@/lib/schemas/socket";
import { startServer as startRealServer, type StartedServer } from "@/lib/test-support/start-server";
import { createHarness, type Harness } from "./test-support/harness";

let h: Harness | undefined;
let server: ChildProcess | undefined;
let browser: Socket | undefined;
afterEach(async () => {
  browser?.close();
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => server!.once("exit", r));
  }
  await h?.close();
  h = server = browser = undefined;
});

const PORT = 20000 + Math.floor(Math.random() * 20000);
const base = `http://127.0.0.1:${PORT}`;
const FINAL = ["succeeded", "failed", "cancelled"];

function startServer(env: NodeJS.ProcessEnv): Promise<StartedServer> {
  return startRealServer({ ...env, NODE_ENV: "production", PORT: String(PORT) }, 60_000);
}

it("server restart mid-run: the run goes on, the database keeps every step, the browser gets the whole history", async () => {
  h = await createHarness();
  const harness = h;
  h.env.TUNEBOARD_SERVER_URL = base; // the worker's socket goes to our server
  let s = await startServer(h.env);
  server = s.child;

  // ~40 logged steps: 80 samples, batch 2, no accumulation, one epoch, a point per step.
  const jobId = await h.enqueue({ max_samples: 80, per_device_train_batch_size: 2, gradient_accumulation_steps: 1, num_train_epochs: 1, logging_steps: 1 });

  // ---- the browser ----
  const merged = new Map<number, MetricPoint>();
  const live: number[] = []; // steps received as live events, in order (with repeats)
  let subscribes = 0;
  let finalStatus: string | null = null;
  browser = connect(base, { transports: ["websocket"], reconnectionDelay: 200, reconnectionDelayMax: 500 });
  browser.on("connect", () => {
    browser!.emit("job:subscribe", { jobId }, (res: { ok: true; data: JobSnapshot } | { ok: false; error: string }) => {
      if (!res.ok) throw new Error(res.error);
      subscribes++;
      for (const p of res.data.points) merged.set(p.step, p);
      if (FINAL.includes(res.data.job.status)) finalStatus = res.data.job.status;
    });
  });
  browser.on("job:metric", (m: { jobId: number; point: MetricPoint }) => {
    live.push(m.point.step);
    merged.set(m.point.step, m.point);
  });
  browser.on("job:status", (m: JobStatusUpdate) => {
    if (FINAL.includes(m.status)) finalStatus = m.status;
  });
  await h.waitFor(async () => subscribes >= 1, 10_000, "the first subscribe");

  h.startWorker("w1");
  await h.waitFor(async () => live.length >= 3, 90_000, "three live points");

  // ---- the server goes away mid-run ----
  server.kill("SIGTERM");
  await new Promise((r) => server!.once("exit", r));
  const atKill = await h.db.metric.count({ where: { jobId } });
  const liveBeforeRestart = live.length;
  // The worker trains on: steps keep reaching the database while nobody listens.
  await h.waitFor(async () => (await harness.db.metric.count({ where: { jobId } })) >= atKill + 3, 60_000, "steps while the server is down");
  const job0 = await h.db.job.findUniqueOrThrow({ where: { id: jobId } });
  expect(job0.status).toBe("running"); // no crash, no stall: still the same run, still ours
  expect(job0.workerId).toBe("w1");

  // ---- back on the same port ----
  s = await startServer(h.env);
  server = s.child;
  const atRestart = await h.db.metric.count({ where: { jobId } });
  await h.waitFor(async () => subscribes >= 2, 20_000, "the browser to reconnect and re-subscribe");
  await h.waitFor(async () => s.output().includes("worker w1 connected"), 20_000, "the worker to reconnect");

  // ---- the run ends; the browser learns it ----
  const job = await h.waitFor(
    async () => {
      const j = await harness.db.job.findUnique({ where: { id: jobId } });
      return j && FINAL.includes(j.status) ? j : null;
    },
    120_000,
    "the run to end",
  );
  expect(job.status, `${job.error}\n--- log tail ---\n${job.logTail.slice(-3000)}\n--- worker ---\n${harness.workers[0].output().slice(-3000)}`).toBe("succeeded");
  await h.waitFor(async () => finalStatus !== null, 10_000, "the browser to see the final status");

  // ---- nothing lost, nothing doubled ----
  const config = JSON.parse(job.config) as { logging_steps: number };
  const expected = Math.floor(job.totalSteps! / config.logging_steps);
  const rows = await h.db.metric.findMany({ where: { jobId }, orderBy: { step: "asc" } });
  expect(rows).toHaveLength(expected);
  expect(rows.map((r) => r.step)).toEqual(Array.from({ length: expected }, (_, i) => (i + 1) * config.logging_steps));
  expect([...merged.keys()].sort((a, b) => a - b)).toEqual(rows.map((r) => r.step));
  for (const r of rows) expect(merged.get(r.step)!.loss, `step ${r.step}`).toBeCloseTo(r.loss, 6);

  // The worker did not crash and never claimed the job twice.
  const worker = h.workers[0];
  expect(worker.child.exitCode).toBeNull();
  expect(worker.output().match(/claimed job/g)).toHaveLength(1);
  expect(job.attempts).toBe(1);

  console.log(
    `total ${expected} steps; at kill ${atKill} in DB (${liveBeforeRestart} live); ${atRestart - atKill} logged while the server was down; ` +
      `${live.length} live events in all, ${live.length - new Set(live).size} of them repeats (merged by step)`,
  );
}, 240_000);
