// The Chat page's Identity check is stored on its run (Job.identityCheck), so that deleting the run
// deletes it. The caller validates the record; this only writes it.
import { db, type Db } from "../db";

/** Stores `json` as run `jobId`'s Identity check; false when no such job exists (nothing stored). */
export async function setIdentityCheck(jobId: number, json: string, client: Db = db()): Promise<boolean> {
  const { count } = await client.job.updateMany({ where: { id: jobId }, data: { identityCheck: json } });
  return count === 1;
}
