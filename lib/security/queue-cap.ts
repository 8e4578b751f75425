// A cap on queued jobs (TUNEBOARD_MAX_QUEUED_JOBS), so a flood of run requests cannot fill the
// database and the workers' queue. Tuneboard has one user, so the cap is on the whole queue.
import { db, type Db } from "@/lib/db";
import { env } from "@/lib/env";

/** Why a new job may not be queued, or null when there is room. */
export async function queueFullReason(client: Db = db(), max: number = env().TUNEBOARD_MAX_QUEUED_JOBS): Promise<string | null> {
  const queued = await client.job.count({ where: { status: "queued" } });
  return queued >= max ? `the queue already holds ${queued} jobs (TUNEBOARD_MAX_QUEUED_JOBS=${max}): wait for some to start or cancel some` : null;
}
