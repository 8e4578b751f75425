// Workers panel: every worker seen in the last hour, its GPUs (name, memory used/total) from its
// heartbeats, what it runs, when it was last seen; and whether queued jobs ask for more GPUs
// than any online worker has. Refreshes itself every 5 s.
import Link from "next/link";
import { workersPanel } from "@/lib/data/workers";
import { getT } from "@/lib/i18n/server";
import { AutoRefresh } from "./AutoRefresh";

export const dynamic = "force-dynamic";

const gib = (mib: number) => (mib / 1024).toFixed(1);

export default async function WorkersPage() {
  const t = await getT();
  const now = Date.now();
  const { workers, queued, running } = await workersPanel(now);
  const maxGpus = Math.max(0, ...workers.filter((w) => w.online).map((w) => w.gpus.length));
  const tooBig = queued.filter((j) => j.numGpus > maxGpus).length;
  const ago = (ms: number) => {
    const s = Math.max(0, Math.round((now - ms) / 1000));
    return s < 120 ? t("workers.lastSeen.secondsAgo", { n: s }) : t("workers.lastSeen.minutesAgo", { n: Math.round(s / 60) });
  };
  return (
    <div className="space-y-4">
      <AutoRefresh everyMs={5000} />
      <h1 className="text-xl font-semibold">{t("workers.page.title")}</h1>
      <p className="text-sm text-slate-600">{t("workers.page.intro")}</p>
      <p className="text-sm">{t("workers.page.queue", { queued: queued.length, running })}</p>
      {tooBig > 0 && (
        <p className="card border-amber-300 bg-amber-50 text-sm text-amber-900" role="status">
          {t("workers.page.waitingForGpus", { count: tooBig, max: maxGpus })}
        </p>
      )}
      {workers.length === 0 ? (
        <p className="card text-sm text-slate-600">{t("workers.page.empty")}</p>
      ) : (
        <table className="card w-full text-left text-sm">
          <thead className="text-slate-500">
            <tr>
              <th className="p-2">{t("workers.col.worker")}</th>
              <th className="p-2">{t("workers.col.status")}</th>
              <th className="p-2">{t("workers.col.gpus")}</th>
              <th className="p-2">{t("workers.col.job")}</th>
              <th className="p-2">{t("workers.col.lastSeen")}</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => (
              <tr key={w.id} className="border-t border-slate-100 align-top" data-testid={`worker-${w.id}`}>
                <td className="p-2">
                  <div className="font-mono">{w.id}</div>
                  <div className="text-xs text-slate-500">
                    {w.hostname} · pid {w.pid}
                  </div>
                </td>
                <td className="p-2">
                  <span className={w.online ? "text-emerald-700" : "text-slate-500"}>
                    {w.online ? t("workers.status.online") : t("workers.status.offline")}
                  </span>
                </td>
                <td className="p-2">
                  {w.gpus.length === 0 ? (
                    <span className="text-slate-500">{t("workers.gpu.none")}</span>
                  ) : (
                    <ul className="space-y-1">
                      {w.gpus.map((g) => (
                        <li key={g.index}>
                          <span className="font-mono">#{g.index}</span> {g.name} —{" "}
                          {g.memoryUsedMiB === null
                            ? t("workers.gpu.memoryTotal", { total: gib(g.memoryTotalMiB) })
                            : t("workers.gpu.memory", { used: gib(g.memoryUsedMiB), total: gib(g.memoryTotalMiB) })}
                          {g.memoryUsedMiB !== null && g.memoryTotalMiB > 0 && (
                            <meter
                              className="ml-2 align-middle"
                              min={0}
                              max={g.memoryTotalMiB}
                              value={g.memoryUsedMiB}
                              aria-label={`GPU ${g.index} memory`}
                            />
                          )}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td className="p-2">
                  {w.currentJobId ? (
                    <Link href={`/runs/${w.currentJobId}`} className="text-indigo-700 hover:underline">
                      #{w.currentJobId}
                    </Link>
                  ) : (
                    <span className="text-slate-500">{t("workers.job.idle")}</span>
                  )}
                </td>
                <td className="p-2">{ago(w.lastSeenAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
