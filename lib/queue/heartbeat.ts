// A worker renews the lease on the job it runs, and learns whether a cancel was requested.
import { db, type Db } from "../db";
import { DEFAULT_LEASE_MS } from "./types";

export interface HeartbeatResult {
  /** false: the lease was lost (job reclaimed by another worker, finished or gone): stop working on it. */
  ok: boolean;
  cancelRequested: boolean;
}

export async function heartbeatJob(
  jobId: number,
  workerId: string,
  opts: { leaseMs?: number; now?: number } = {},
  client: Db = db(),
): Promise<HeartbeatResult> {
  const now = opts.now ?? Date.now();
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const rows = await client.$queryRaw<{ cancelRequested: boolean }[]>`
    UPDATE "Job"
    SET "leaseExpiresAt" = ${now + leaseMs}
    WHERE id = ${jobId} AND status = 'running' AND "workerId" = ${workerId}
    RETURNING "cancelRequested"`;
  if (rows.length === 0) return { ok: false, cancelRequested: false };
  return { ok: true, cancelRequested: Boolean(rows[0].cancelRequested) };
}
