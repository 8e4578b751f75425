// Reads of training runs for the Runs, Compare, Train (clone) and Chat pages.
import { db } from "@/lib/db";
import { RUNS_LIST_LIMIT, TRAIN_KIND } from "@/lib/jobs/list";

/** One job with every column (the run page), or null. */
export function findJob(id: number) {
  return db().job.findUnique({ where: { id } });
}

/** The stored config of a run to clone, or null. */
export function findCloneSource(id: number) {
  return db().job.findUnique({ where: { id }, select: { id: true, name: true, config: true } });
}

/** The runs the Compare picker offers, newest first. */
export function compareChoices() {
  return db().job.findMany({
    where: { kind: TRAIN_KIND },
    orderBy: { id: "desc" },
    take: RUNS_LIST_LIMIT,
    select: { id: true, seq: true, name: true, status: true },
  });
}

/** The compared runs (in any order; missing ids are absent). */
export function compareRuns(ids: number[]) {
  return db().job.findMany({ where: { id: { in: ids } }, select: { id: true, seq: true, name: true, status: true, config: true, finalLoss: true } });
}

/** The newest succeeded jobs (Chat picks those with an adapter). */
export function succeededJobs(take = 100) {
  return db().job.findMany({ where: { status: "succeeded" }, orderBy: { id: "desc" }, take });
}
