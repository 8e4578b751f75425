// Resume a cancelled or failed run: put the same job back in the queue so its history continues.
// The worker that claims it sees attempts > 1 and restarts the trainer from the newest complete
// checkpoint under the job's output folder (worker/run-job.ts); steps logged after that
// checkpoint are logged again and overwrite their rows, so the chart stays one history.
import { db, type Db, type Job } from "@/lib/db";

export const RESUMABLE_STATUSES = ["cancelled", "failed"] as const;

export type ResumeResult = { ok: true; job: Job } | { ok: false; state: "not_found" | "not_resumable"; status?: string };

export async function resumeJob(jobId: number, client: Db = db()): Promise<ResumeResult> {
  // One statement guarded on the status, so a double click or a race with another request
  // queues the job once. attempts = 1 makes the next claim attempt 2: the worker resumes from a
  // checkpoint, and the crash-retry budget (DEFAULT_MAX_ATTEMPTS) starts afresh for this try.
  const rows = await client.$queryRaw<Job[]>`
    UPDATE "Job"
    SET status = 'queued',
        "cancelRequested" = FALSE,
        error = NULL,
        "finishedAt" = NULL,
        "workerId" = NULL,
        "leaseExpiresAt" = NULL,
        attempts = 1
    WHERE id = ${jobId} AND status IN ('cancelled', 'failed')
    RETURNING *`;
  if (rows.length === 1) {
    // Raw rows come back with SQLite's representations; read the row through Prisma for types.
    const job = await client.job.findUnique({ where: { id: jobId } });
    if (job) return { ok: true, job };
  }
  const job = await client.job.findUnique({ where: { id: jobId }, select: { status: true } });
  return job ? { ok: false, state: "not_resumable", status: job.status } : { ok: false, state: "not_found" };
}
