// Worker processes report themselves (and what they run) on every heartbeat.
import { db, type Db, type Worker } from "../db";
import { workerHeartbeatSchema, type WorkerHeartbeat } from "./types";

export async function upsertWorker(input: WorkerHeartbeat, opts: { now?: number } = {}, client: Db = db()): Promise<Worker> {
  const w = workerHeartbeatSchema.parse(input);
  const lastSeenAt = opts.now ?? Date.now();
  const fields = {
    hostname: w.hostname,
    pid: w.pid,
    lastSeenAt,
    currentJobId: w.currentJobId ?? null,
    gpus: JSON.stringify(w.gpus),
  };
  return client.worker.upsert({ where: { id: w.id }, create: { id: w.id, ...fields }, update: fields });
}

/** Workers seen within `withinMs` (default 60 s). */
export async function listLiveWorkers(opts: { withinMs?: number; now?: number } = {}, client: Db = db()): Promise<Worker[]> {
  const since = (opts.now ?? Date.now()) - (opts.withinMs ?? 60_000);
  return client.worker.findMany({ where: { lastSeenAt: { gte: since } }, orderBy: { lastSeenAt: "desc" } });
}
