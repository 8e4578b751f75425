// A worker records how its job ended. Only the worker that holds the job can: one that lost
// its lease (the job was reclaimed by another worker) changes nothing.
import { db, type Db } from "../db";
import { finalStatusSchema, type FinalStatus } from "./types";

export interface FinishInput {
  /** succeeded | failed, or cancelled when the worker stops a job after a cancel request. */
  status: FinalStatus;
  error?: string | null;
  finalLoss?: number | null;
  finalEvalLoss?: number | null;
  now?: number;
}

/** Returns true when this worker's result was recorded, false when it no longer held the job. */
export async function finishJob(jobId: number, workerId: string, input: FinishInput, client: Db = db()): Promise<boolean> {
  const status = finalStatusSchema.parse(input.status);
  const now = input.now ?? Date.now();
  const changed = await client.$executeRaw`
    UPDATE "Job"
    SET status = ${status},
        error = ${input.error ?? null},
        "finalLoss" = ${input.finalLoss ?? null},
        "finalEvalLoss" = ${input.finalEvalLoss ?? null},
        "finishedAt" = ${new Date(now)},
        "leaseExpiresAt" = NULL
    WHERE id = ${jobId} AND "workerId" = ${workerId} AND status = 'running'`;
  return changed === 1;
}
