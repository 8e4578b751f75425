// What the Workers page shows: the workers, the GPU counts queued jobs ask for, running jobs.
import { db } from "@/lib/db";
import { listWorkersForPanel } from "@/lib/queue/workers";

export async function workersPanel(now: number) {
  const [workers, queued, running] = await Promise.all([
    listWorkersForPanel({ now }),
    db().job.findMany({ where: { status: "queued" }, select: { numGpus: true } }),
    db().job.count({ where: { status: "running" } }),
  ]);
  return { workers, queued, running };
}
