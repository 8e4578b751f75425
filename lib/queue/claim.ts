// Claim the next job for a worker: the oldest queued job (or a running job whose worker stopped
// renewing its lease) that fits the worker's GPUs. One atomic
// UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING *, so two workers (processes, machines)
// can never claim the same job. On PostgreSQL the sub-select takes the row with
// FOR UPDATE SKIP LOCKED: concurrent claimers skip each other's rows instead of waiting.
import { db, providerOfDb, Prisma, type Db, type Job } from "../db";
import { DEFAULT_LEASE_MS, DEFAULT_MAX_ATTEMPTS } from "./types";

export interface ClaimOptions {
  leaseMs?: number;
  /** Expired jobs already tried this often are failed by `reapExpiredJobs` instead of claimed again. */
  maxAttempts?: number;
  /** GPUs this worker has: only jobs with numGpus <= gpuCount are claimed (default 0: CPU-only jobs). */
  gpuCount?: number;
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
  const gpuCount = Math.max(0, Math.floor(opts.gpuCount ?? 0));
  await reapExpiredJobs({ ...opts, now }, client);
  const skipLocked = providerOfDb(client) === "postgresql" ? Prisma.sql`FOR UPDATE SKIP LOCKED` : Prisma.empty;
  // The outer status test repeats the inner one: SQLite runs the statement under its single
  // write lock, but on PostgreSQL (READ COMMITTED) an UPDATE that waited on a row lock re-checks
  // only the outer WHERE — with it, a loser updates nothing instead of stealing.
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
        WHERE (status = 'queued'
               OR (status = 'running' AND "leaseExpiresAt" < ${now} AND "cancelRequested" = FALSE))
          AND "numGpus" <= ${gpuCount}
        ORDER BY id
        LIMIT 1
        ${skipLocked})
      AND (status = 'queued'
           OR (status = 'running' AND "leaseExpiresAt" < ${now} AND "cancelRequested" = FALSE))
    RETURNING *`;
  return rows[0] ?? null;
}
