// A worker that shuts down hands its running job back to the queue at once (instead of making
// the next worker wait for the lease to expire). Only the holder of the job can.
import { db, type Db } from "../db";

export async function releaseJob(jobId: number, workerId: string, client: Db = db()): Promise<boolean> {
  const changed = await client.$executeRaw`
    UPDATE "Job"
    SET status = 'queued', "workerId" = NULL, "leaseExpiresAt" = NULL
    WHERE id = ${jobId} AND "workerId" = ${workerId} AND status = 'running'`;
  return changed === 1;
}
