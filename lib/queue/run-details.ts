// A worker stores what a training run resolved at start (its fast-path options) on the job
// (Job.result of a train job, which has no other result), only while it holds the job's lease
// (as lib/queue/progress.ts). A retried run overwrites it with what the new attempt resolved.
import { db, type Db } from "../db";
import { fastPathOptionsSchema, type FastPathOptions, type TrainRunDetails } from "../schemas/fast-path-options";

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
