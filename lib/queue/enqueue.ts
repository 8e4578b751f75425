// Put a new job at the end of the queue. (On PostgreSQL a trigger announces it to idle workers:
// lib/queue/wakeup.ts.)
import { db, type Db, type Job } from "../db";
import { enqueueInputSchema, type EnqueueInput } from "./types";

/** GPUs asked for by a run config's optional `num_gpus` field (0 when absent or invalid). */
export function numGpusOfConfig(config: string): number {
  try {
    const n = (JSON.parse(config) as { num_gpus?: unknown }).num_gpus;
    return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 64 ? n : 0;
  } catch {
    return 0;
  }
}

export async function enqueueJob(input: EnqueueInput, client: Db = db()): Promise<Job> {
  const data = enqueueInputSchema.parse(input);
  return client.job.create({ data: { ...data, numGpus: data.numGpus ?? numGpusOfConfig(data.config), status: "queued" } });
}
