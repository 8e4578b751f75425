// Worker processes report themselves (and what they run) on every heartbeat.
import { db, type Db, type Worker } from "../db";
import { z } from "zod";
import { gpuInfoSchema, workerHeartbeatSchema, type GpuInfo, type WorkerHeartbeat } from "./types";

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

/** A worker as the Workers page shows it: GPUs parsed (bad JSON → none), online = seen within onlineMs. */
export interface WorkerView {
  id: string;
  hostname: string;
  pid: number;
  lastSeenAt: number;
  online: boolean;
  currentJobId: number | null;
  gpus: GpuInfo[];
}

export async function listWorkersForPanel(
  opts: { withinMs?: number; onlineMs?: number; now?: number } = {},
  client: Db = db(),
): Promise<WorkerView[]> {
  const now = opts.now ?? Date.now();
  const rows = await listLiveWorkers({ withinMs: opts.withinMs ?? 3_600_000, now }, client);
  return rows.map((w) => {
    let gpus: GpuInfo[] = [];
    try {
      const parsed = z.array(gpuInfoSchema).safeParse(JSON.parse(w.gpus));
      if (parsed.success) gpus = parsed.data;
    } catch {
      // not JSON: show no GPUs
    }
    return {
      id: w.id,
      hostname: w.hostname,
      pid: w.pid,
      lastSeenAt: w.lastSeenAt,
      online: now - w.lastSeenAt < (opts.onlineMs ?? 30_000),
      currentJobId: w.currentJobId,
      gpus,
    };
  });
}
