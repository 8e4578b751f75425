// What the home page shows: the newest training runs and how many runs are in each status
// (evaluations and exports are jobs too, but not runs).
import { db } from "@/lib/db";
import { TRAIN_KIND } from "@/lib/jobs/list";

export async function homeSummary() {
  const [recent, counts] = await Promise.all([
    db().job.findMany({ where: { kind: TRAIN_KIND }, orderBy: { id: "desc" }, take: 5, select: { id: true, seq: true, name: true, status: true, finalLoss: true } }),
    db().job.groupBy({ by: ["status"], where: { kind: TRAIN_KIND }, _count: { _all: true } }),
  ]);
  const byStatus = new Map(counts.map((c) => [c.status, c._count._all]));
  return { recent, count: (status: string) => byStatus.get(status) ?? 0, total: counts.reduce((n, c) => n + c._count._all, 0) };
}
