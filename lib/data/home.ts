// What the home page shows: the newest jobs and how many jobs are in each status.
import { db } from "@/lib/db";

export async function homeSummary() {
  const [recent, counts] = await Promise.all([
    db().job.findMany({ orderBy: { id: "desc" }, take: 5, select: { id: true, name: true, status: true, finalLoss: true } }),
    db().job.groupBy({ by: ["status"], _count: { _all: true } }),
  ]);
  const byStatus = new Map(counts.map((c) => [c.status, c._count._all]));
  return { recent, count: (status: string) => byStatus.get(status) ?? 0, total: counts.reduce((n, c) => n + c._count._all, 0) };
}
