// A worker stores what a training run resolved at start (its fast-path options) on the job
// (Job.result of a train job, which has no other result), only while it holds the job's lease
// (as lib/queue/progress.ts). A retried run overwrites it with what the new attempt resolved.
// Early stopping adds the stop reason at the end (recordStoppedEarly).
import { db, type Db } from "../db";
import { fastPathOptionsSchema, parseTrainRunDetails, type FastPathOptions, type TrainRunDetails } from "../schemas/fast-path-options";
import { stoppedEarlySchema, type StoppedEarly } from "../schemas/stopped-early";

export async function recordFastPathOptions(
  jobId: number,
  workerId: string,
  options: FastPathOptions,
  client: Db = db(),
): Promise<boolean> {
  const details: TrainRunDetails = { fastPathOptions: fastPathOptionsSchema.parse(options) };
  const { count } = await client.job.updateMany({
    where: { id: jobId, workerId, status: "running", kind: "train" },
    data: { result: JSON.stringify(details) },
  });
  return count === 1;
}

/** Why early stopping ended the run, added to what the run stored at start (same lease guard). */
export async function recordStoppedEarly(jobId: number, workerId: string, stop: StoppedEarly, client: Db = db()): Promise<boolean> {
  const held = { id: jobId, workerId, status: "running", kind: "train" };
  const row = await client.job.findFirst({ where: held, select: { result: true } });
  if (!row) return false;
  const details: TrainRunDetails = { ...(parseTrainRunDetails(row.result) ?? {}), stoppedEarly: stoppedEarlySchema.parse(stop) };
  const { count } = await client.job.updateMany({ where: held, data: { result: JSON.stringify(details) } });
  return count === 1;
}
