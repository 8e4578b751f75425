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
  const job = await client.job.create({ data: { ...data, numGpus: data.numGpus ?? numGpusOfConfig(data.config), status: "queued" } });
  return { ...job, seq: await numberWithinKind(client, job.id, job.kind) };
}

/**
 * Gives a new job the next number among the jobs of its kind (Run #3, Evaluation #1), in one
 * statement. Two enqueues racing on PostgreSQL can compute the same number: the unique index on
 * (kind, seq) refuses the second, which then takes the next one.
 */
async function numberWithinKind(client: Db, id: number, kind: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.$executeRaw`UPDATE "Job" SET "seq" = (SELECT COALESCE(MAX("seq"), 0) + 1 FROM "Job" WHERE "kind" = ${kind}) WHERE "id" = ${id}`;
      break;
    } catch (err) {
      if (attempt >= 9 || !/unique|duplicate/i.test(String((err as Error).message))) throw err;
    }
  }
  const row = await client.job.findUniqueOrThrow({ where: { id }, select: { seq: true } });
  return row.seq!;
}
