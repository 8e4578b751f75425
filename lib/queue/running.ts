// Facts a worker records about the job it runs, besides progress: where its files are and what
// an eval or export produced. Like every worker write, guarded on the lease: a worker that lost
// the job changes nothing.
import { db, type Db } from "../db";

const heldBy = (jobId: number, workerId: string) => ({ id: jobId, workerId, status: "running" });

/** The job's output folder (the worker's, or the server's copy once a remote worker uploaded it). */
export async function setJobOutputDir(jobId: number, workerId: string, outputDir: string, client: Db = db()): Promise<boolean> {
  const { count } = await client.job.updateMany({ where: heldBy(jobId, workerId), data: { outputDir } });
  return count === 1;
}

/** The result an eval or export job reports (JSON text). */
export async function setJobResult(jobId: number, workerId: string, result: string, client: Db = db()): Promise<boolean> {
  const { count } = await client.job.updateMany({ where: heldBy(jobId, workerId), data: { result } });
  return count === 1;
}
