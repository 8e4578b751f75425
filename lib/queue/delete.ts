// Delete a finished job and its metric rows. Only a finished job: one statement guarded on the
// status, so a job that was resumed or claimed in the meantime stays.
import { db, type Db } from "../db";
import { FINAL_STATUSES } from "./types";

export type DeleteJobResult =
  | { ok: true; outputDir: string | null }
  | { ok: false; state: "not_found" }
  | { ok: false; state: "not_finished"; status: string };

export async function deleteFinishedJob(jobId: number, client: Db = db()): Promise<DeleteJobResult> {
  const rows = await client.$queryRaw<{ outputDir: string | null }[]>`
    DELETE FROM "Job" WHERE id = ${jobId} AND status IN (${FINAL_STATUSES[0]}, ${FINAL_STATUSES[1]}, ${FINAL_STATUSES[2]})
    RETURNING "outputDir"`;
  if (rows.length === 0) {
    const job = await client.job.findUnique({ where: { id: jobId }, select: { status: true } });
    return job ? { ok: false, state: "not_finished", status: job.status } : { ok: false, state: "not_found" };
  }
  // The foreign keys cascade; these also cover a database where SQLite's foreign keys are off.
  await client.metric.deleteMany({ where: { jobId } });
  await client.evalMetric.deleteMany({ where: { jobId } });
  return { ok: true, outputDir: rows[0].outputDir };
}
