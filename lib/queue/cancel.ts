// Cancel a job: a queued job is cancelled at once; a running job gets cancelRequested = true,
// its worker sees it on the next heartbeat and finishes the job as cancelled.
import { db, type Db } from "../db";

export type CancelResult =
  | { ok: true; state: "cancelled" | "cancel_requested" }
  | { ok: false; state: "not_found" | "already_finished" };

export async function cancelJob(jobId: number, opts: { now?: number } = {}, client: Db = db()): Promise<CancelResult> {
  const now = opts.now ?? Date.now();
  // One statement for both cases; SET expressions all see the row as it was before.
  const rows = await client.$queryRaw<{ status: string }[]>`
    UPDATE "Job"
    SET "cancelRequested" = CASE WHEN status = 'running' THEN TRUE ELSE "cancelRequested" END,
        "finishedAt" = CASE WHEN status = 'queued' THEN ${new Date(now)} ELSE "finishedAt" END,
        status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END
    WHERE id = ${jobId} AND status IN ('queued', 'running')
    RETURNING status`;
  if (rows.length === 1) return { ok: true, state: rows[0].status === "cancelled" ? "cancelled" : "cancel_requested" };
  const job = await client.job.findUnique({ where: { id: jobId }, select: { id: true } });
  return { ok: false, state: job ? "already_finished" : "not_found" };
}
