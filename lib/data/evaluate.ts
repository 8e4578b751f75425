// Reads for the Evaluate page: the newest eval or export jobs.
import { db } from "@/lib/db";

export function taskJobs(kind: "eval" | "export", take = 30) {
  return db().job.findMany({ where: { kind }, orderBy: { id: "desc" }, take });
}
