// Load test of the live fan-out path (not a timed test): worker emit -> server relay -> browsers.
//
//   npx tsx scripts/bench-fanout.ts [--seconds 60] [--rate 50] [--clients 100] [--json out.json]
//
// Starts the real server (tsx server.ts, the built .next; run `npx next build` first) on an
// isolated, freshly migrated SQLite database with one job row, connects one fake worker on
// "/worker" with the worker token, and `--clients` socket.io browser clients on the default
// namespace, each subscribed to the job (job:subscribe). The worker emits `--rate` job:metric
// events per second for `--seconds` seconds.
//
// Latency: the fake worker and the clients live in this one process, so they share a clock. Each
// point carries its send time in `elapsedS` — as milliseconds of performance.timeOrigin +
// performance.now(), not seconds: the socket schema allows any number there, and no other field
// is free. A client's latency for a point is its receive time minus that number. The figure
// includes this process's own event-loop delay (it parses every copy for all clients).
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { io as connect, type Socket } from "socket.io-client";
import { migrateDeploy } from "../prisma/migrate";
import { createDb } from "../lib/db";
import { enqueueJob } from "../lib/queue/enqueue";
import { startServer as startRealServer } from "../lib/test-support/start-server";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg("seconds", 60);
const RATE = arg("rate", 50);
const CLIENTS = arg("clients", 100);
const jsonOut = process.argv.includes("--json") ? process.argv[process.argv.indexOf("--json") + 1] : null;
const WORKER_TOKEN = "bench-worker-token-0123456789";
const PORT = 20000 + Math.floor(Math.random() * 20000);
const base = `http://127.0.0.1:${PORT}`;
const now = () => performance.timeOrigin + performance.now();

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

async function startServer(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return (await startRealServer(env)).child;
}

/** CPU time (user + system) of a process and its children so far, from /proc (Linux). */
function serverCpuMs(pid: number): number {
  // tsx runs server.ts in a child node process: sum the whole tree below `pid`.
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      const kids = fs.readFileSync(`/proc/${pids[i]}/task/${pids[i]}/children`, "utf8").trim();
      if (kids) pids.push(...kids.split(/\s+/).map(Number));
    } catch {
      /* gone or not Linux */
    }
  }
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  return pids.reduce((sum, p) => {
    try {
      const fields = fs.readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
      return sum + (Number(fields[11]) + Number(fields[12])) * tick; // utime, stime
    } catch {
      return sum;
    }
  }, 0);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-bench-"));
const url = `file:${path.join(dir, "bench.db")}`;
fs.mkdirSync(path.join(dir, "data"));
await migrateDeploy(url, { log: () => {} });
const db = createDb(url);
const job = await enqueueJob({ name: "bench", config: "{}", modelPath: "/bench", datasets: "bench" }, db);
await db.$disconnect();

const server = await startServer({
  ...process.env,
  NODE_ENV: "production",
  PORT: String(PORT),
  DATABASE_URL: url,
  TUNEBOARD_DATA_DIR: path.join(dir, "data"), // never the user's: the bench needs no datasets
  TUNEBOARD_RUNS_DIR: path.join(dir, "runs"),
  TUNEBOARD_WORKER_TOKEN: WORKER_TOKEN,
});
const sockets: Socket[] = [];
let exitCode = 0;
try {
  // Browsers: each its own connection (forceNew), subscribed to the job.
  const received = Array.from({ length: CLIENTS }, () => new Set<number>());
  const duplicates = new Array<number>(CLIENTS).fill(0);
  const latencies: number[] = [];
  await Promise.all(
    received.map(async (seen, i) => {
      const s = connect(base, { transports: ["websocket"], forceNew: true, reconnection: false });
      sockets.push(s);
      s.on("job:metric", (msg: { jobId: number; point: { step: number; elapsedS: number } }) => {
        latencies.push(now() - msg.point.elapsedS);
        if (seen.has(msg.point.step)) duplicates[i]++;
        seen.add(msg.point.step);
      });
      await new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("connect_error", reject);
      });
      const res = await s.timeout(10_000).emitWithAck("job:subscribe", { jobId: job.id });
      if (!res.ok) throw new Error(`subscribe failed: ${res.error}`);
    }),
  );

  const worker = connect(`${base}/worker`, { transports: ["websocket"], auth: { token: WORKER_TOKEN, workerId: "bench" }, reconnection: false });
  sockets.push(worker);
  await new Promise<void>((resolve, reject) => {
    worker.once("connect", () => resolve());
    worker.once("connect_error", reject);
  });

  // Where the CPU goes: this process (worker + all clients) and the server, over the send phase.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const cpu0 = process.cpuUsage();
  const serverCpu0 = serverCpuMs(server.pid!);
  // Emit on schedule (catching up after a late timer), not "every 20 ms" (timers drift).
  const total = Math.round(SECONDS * RATE);
  const t0 = now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - t0) / 1000) * RATE) + 1);
      while (sent < due) {
        sent++;
        worker.emit("job:metric", {
          jobId: job.id,
          point: { step: sent, epoch: sent / total, loss: 1 / sent, lr: 1e-4, gradNorm: null, tokens: null, tokensPerSec: null, elapsedS: now() },
        });
      }
      if (sent >= total) return resolve();
      setTimeout(tick, Math.max(0, t0 + (sent / RATE) * 1000 - now()));
    };
    tick();
  });
  const sendS = (now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverCpuS = (serverCpuMs(server.pid!) - serverCpu0) / 1000;
  loopDelay.disable();
  // Let the last points arrive.
  const drainT0 = now();
  while (received.some((s) => s.size < total) && now() - drainT0 < 5000) await new Promise((r) => setTimeout(r, 100));

  latencies.sort((a, b) => a - b);
  const missing = received.map((s) => total - s.size);
  const result = {
    clients: CLIENTS,
    rate_per_s: RATE,
    seconds: SECONDS,
    send_s: Number(sendS.toFixed(2)),
    sent: total,
    deliveries: latencies.length,
    p50_ms: Number(quantile(latencies, 0.5).toFixed(1)),
    p95_ms: Number(quantile(latencies, 0.95).toFixed(1)),
    p99_ms: Number(quantile(latencies, 0.99).toFixed(1)),
    max_ms: Number(latencies[latencies.length - 1].toFixed(1)),
    received_per_client_min: Math.min(...received.map((s) => s.size)),
    received_per_client_max: Math.max(...received.map((s) => s.size)),
    missing_points_total: missing.reduce((a, b) => a + b, 0),
    clients_missing_any: missing.filter((m) => m > 0).length,
    duplicates_total: duplicates.reduce((a, b) => a + b, 0),
    bench_process_cpu_pct: Number((((cpu.user + cpu.system) / 1e6 / sendS) * 100).toFixed(1)),
    server_process_cpu_pct: Number(((serverCpuS / sendS) * 100).toFixed(1)),
    bench_event_loop_delay_p99_ms: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
    bench_event_loop_delay_max_ms: Number((loopDelay.max / 1e6).toFixed(1)),
    loadavg_1m_at_end: Number(os.loadavg()[0].toFixed(2)),
    cpus: os.cpus().length,
    node: process.version,
  };
  console.log(JSON.stringify(result, null, 2));
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2) + "\n");
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  for (const s of sockets) s.close();
  server.kill("SIGTERM");
  await new Promise((r) => server.once("exit", r));
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(exitCode);
}
