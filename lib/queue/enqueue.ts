// Put a new job at the end of the queue.
import { db, type Db, type Job } from "../db";
import { enqueueInputSchema, type EnqueueInput } from "./types";

export async function enqueueJob(input: EnqueueInput, client: Db = db()): Promise<Job> {
  const data = enqueueInputSchema.parse(input);
  return client.job.create({ data: { ...data, status: "queued" } });
}
