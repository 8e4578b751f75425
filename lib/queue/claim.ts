// Claim the next job for a worker: the oldest queued job, or a running job whose worker
// stopped renewing its lease. One atomic UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING *,
// so two workers (processes) can never claim the same job.
import { db, type Db, type Job } from "../db";
import { DEFAULT_LEASE_MS, DEFAULT_MAX_ATTEMPTS } from "./types";

export interface ClaimOptions {
  leaseMs?: number;
  /** Expired jobs already tried this often are failed by `reapExpiredJobs` instead of claimed again. */
  maxAttempts?: number;
  /** Epoch ms; tests pass it, everyone else leaves it to Date.now(). */
  now?: number;
}

/**
 * Settle running jobs whose lease expired and that must not run again: a cancel was
 * requested (→ cancelled), or they used up their attempts (→ failed). Returns how many.
 */
export async function reapExpiredJobs(opts: ClaimOptions = {}, client: Db = db()): Promise<number> {
  const now = opts.now ?? Date.now();
  const maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  return client.$executeRaw`
    UPDATE "Job"
    SET status = CASE WHEN "cancelRequested" = TRUE THEN 'cancelled' ELSE 'failed' END,
        error = CASE WHEN "cancelRequested" = TRUE THEN error
                     ELSE 'worker lost its lease ' || attempts || ' time(s); giving up' END,
        "finishedAt" = ${new Date(now)},
        "leaseExpiresAt" = NULL
    WHERE status = 'running'
      AND "leaseExpiresAt" < ${now}
      AND ("cancelRequested" = TRUE OR attempts >= ${maxAttempts})`;
}

/**
 * Claim one job for `workerId`, or null when there is nothing to do.
 * Sets status running, workerId, leaseExpiresAt = now + leaseMs, attempts + 1, startedAt.
 */
export async function claimJob(workerId: string, opts: ClaimOptions = {}, client: Db = db()): Promise<Job | null> {
  const now = opts.now ?? Date.now();
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  await reapExpiredJobs({ ...opts, now }, client);
  // The outer status test repeats the inner one: SQLite runs the statement under its single
  // write lock, but on PostgreSQL (READ COMMITTED) a second UPDATE that waited on the row lock
  // re-checks only the outer WHERE — with it, the loser updates nothing instead of stealing.
  // (On PostgreSQL, `FOR UPDATE SKIP LOCKED` in the sub-select would also spare the wait.)
  const rows = await client.$queryRaw<Job[]>`
    UPDATE "Job"
    SET status = 'running',
        "workerId" = ${workerId},
        "leaseExpiresAt" = ${now + leaseMs},
        attempts = attempts + 1,
        "startedAt" = ${new Date(now)},
        "finishedAt" = NULL,
        error = NULL
    WHERE id = (
        SELECT id FROM "Job"
        WHERE status = 'queued'
           OR (status = 'running' AND "leaseExpiresAt" < ${now} AND "cancelRequested" = FALSE)
        ORDER BY id
        LIMIT 1)
      AND (status = 'queued'
           OR (status = 'running' AND "leaseExpiresAt" < ${now} AND "cancelRequested" = FALSE))
    RETURNING *`;
  return rows[0] ?? null;
}
