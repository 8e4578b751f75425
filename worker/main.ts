// The Tuneboard worker: claims training jobs from the database queue and runs the Python
// trainer for each; hosts the chat model on request. Start with `npm run worker`.
// It talks to the web server over socket.io ("/worker" namespace, worker token) to relay live
// events; the database is the record, so a missing server loses no metric.
import os from "node:os";
import { randomUUID } from "node:crypto";
import { io as connect, type Socket } from "socket.io-client";
import { env } from "@/lib/env";
import { readWorkerToken } from "@/lib/worker-token";
import { db } from "@/lib/db";
import { claimJob } from "@/lib/queue/claim";
import { upsertWorker } from "@/lib/queue/workers";
import { createWakeup } from "@/lib/queue/wakeup";
import { databaseUrl, providerOf } from "@/prisma/database-url";
import { detectGpus, refreshGpus } from "./gpus";
import { remoteHooks } from "./remote/hooks";
import type { ServerToWorkerEvents, WorkerToServerEvents } from "@/lib/schemas/socket";
import { runJob, type RunningJob } from "./run-job";
import { ChatBridge } from "./chat-bridge";
import { liveEmitter } from "./live-emit";

const config = (() => {
  try {
    return env();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
})();

const workerId = config.TUNEBOARD_WORKER_ID ?? `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
// PostgreSQL: idle workers wait on LISTEN/NOTIFY; TUNEBOARD_PG_IDLE_MS is only how often they look for expired leases.
const POLL_MS = config.TUNEBOARD_POLL_MS;
const ON_POSTGRES = providerOf(databaseUrl()) === "postgresql";
const IDLE_MS = ON_POSTGRES ? config.TUNEBOARD_PG_IDLE_MS : POLL_MS;
// TUNEBOARD_REMOTE=1: no shared disk with the server (worker/remote/): datasets come over HTTP,
// checkpoints and the final adapter go back over HTTP.
const REMOTE = config.TUNEBOARD_REMOTE === "1";
const LEASE_MS = config.TUNEBOARD_LEASE_MS;
const log = (msg: string) => console.log(`[worker ${workerId}] ${msg}`);

const socket: Socket<ServerToWorkerEvents, WorkerToServerEvents> = connect(`${config.serverUrl}/worker`, {
  auth: { token: readWorkerToken(config), workerId },
  transports: ["websocket"],
  reconnectionDelayMax: 2000,
});
socket.on("connect", () => log(`connected to ${config.serverUrl}`));
socket.on("disconnect", (reason) => {
  log(`disconnected from the server (${reason}); training goes on, live events are buffered`);
  // "io server disconnect" (the server closed this socket on purpose) does not reconnect by itself.
  if (reason === "io server disconnect") setTimeout(() => !stopping && socket.connect(), 1000).unref();
});
socket.on("connect_error", (err) => {
  if (err.message === "unauthorized") log("the server refused this worker's token");
});

const emitLive = liveEmitter(socket, config.TUNEBOARD_MAX_BUFFERED_EVENTS);

let current: RunningJob | null = null;
let stopping = false;

const chat = new ChatBridge(config, socket, log);

socket.on("job:cancel", (msg) => {
  // A hint for a faster stop; the heartbeat re-reads cancelRequested from the database anyway.
  if (current && msg?.jobId === current.jobId) void checkCancel(current);
});

async function checkCancel(job: RunningJob) {
  const row = await db().job.findUnique({ where: { id: job.jobId }, select: { cancelRequested: true } });
  if (row?.cancelRequested) job.cancel();
}

// The GPUs: detected once (the count decides which jobs fit); memory used is refreshed for the
// heartbeat every 5 s without blocking the event loop (nvidia-smi runs asynchronously).
const gpus = detectGpus(config.TUNEBOARD_GPUS);
let gpuStatus = gpus;
async function heartbeatWorker() {
  await upsertWorker({ id: workerId, hostname: os.hostname(), pid: process.pid, currentJobId: current?.jobId ?? null, gpus: gpuStatus });
}

const wakeup = createWakeup(databaseUrl(), log);

async function loop() {
  log(
    `started; ${gpus.length} GPU(s)${gpus.length ? ` (${gpus.map((g) => g.name).join(", ")})` : ""}; ` +
      `${ON_POSTGRES ? "LISTEN/NOTIFY, checking" : "polling"} every ${IDLE_MS} ms, lease ${LEASE_MS} ms` +
      (REMOTE ? `; remote mode (files over HTTP from ${config.serverUrl})` : ""),
  );
  while (!stopping) {
    try {
      await heartbeatWorker();
      const claimed = await claimJob(workerId, { leaseMs: LEASE_MS, gpuCount: gpus.length });
      if (!claimed) {
        await wakeup.wait(IDLE_MS);
        continue;
      }
      log(`claimed job ${claimed.id} (${claimed.name}${claimed.numGpus > 1 ? `, ${claimed.numGpus} GPUs` : ""})`);
      const remote = REMOTE ? remoteHooks(config, readWorkerToken(config), workerId, log) : null;
      const job = remote ? await remote.prepare(claimed) : claimed;
      if (!job) continue; // prepare failed the job
      current = runJob(job, {
        ...(remote ? { onCheckpoint: remote.onCheckpoint, beforeFinish: remote.beforeFinish } : {}),
        // The first numGpus advertised GPUs (torchrun on that many when more than one).
        gpuIndices: gpus.slice(0, Math.max(0, job.numGpus)).map((g) => g.index),
        env: config,
        workerId,
        leaseMs: LEASE_MS,
        log,
        emitStatus: (s) => emitLive("job:status", s),
        emitMetric: (jobId, point) => emitLive("job:metric", { jobId, point }),
        emitEval: (jobId, point) => emitLive("job:eval", { jobId, point }),
        emitLog: (jobId, text) => emitLive("job:log", { jobId, text }),
      });
      await current.done;
      current = null;
    } catch (err) {
      log(`error: ${(err as Error).stack ?? err}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}

const workerBeat = setInterval(async () => {
  if (gpus.length) gpuStatus = (await refreshGpus(config.TUNEBOARD_GPUS)) ?? gpuStatus;
  await heartbeatWorker().catch(() => {});
}, 5000);

function shutdown() {
  if (stopping) return;
  stopping = true;
  log("stopping");
  clearInterval(workerBeat);
  void wakeup.close();
  chat.close();
  // A running trainer is stopped and its job handed back to the queue for another worker.
  current?.abandon();
  const finish = () => {
    socket.close();
    void db().$disconnect().finally(() => process.exit(0));
  };
  if (current) current.done.finally(finish);
  else finish();
  setTimeout(() => process.exit(0), 8000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

void loop();
