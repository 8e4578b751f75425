import Link from "next/link";
import { z } from "zod";
import { JOB_STATUSES, type JobStatus } from "@/lib/queue/types";
import { countRunsByStatus, listRuns, RUNS_LIST_LIMIT } from "@/lib/jobs/list";
import { getLocale, getT } from "@/lib/i18n/server";
import { HTML_LANG } from "@/lib/i18n/locales";
import type { MessageKey } from "@/lib/i18n/translate";
import { RunsTable } from "@/components/runs/RunsTable";

export const dynamic = "force-dynamic";

const statusParam = z.enum(JOB_STATUSES);

export default async function RunsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  // An unknown ?status= shows every run rather than an error: the filter links are the way in.
  const parsed = statusParam.safeParse(sp.status);
  const status: JobStatus | null = parsed.success ? parsed.data : null;
  const [rows, counts, t, locale] = await Promise.all([listRuns(status), countRunsByStatus(), getT(), getLocale()]);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  // Dates are formatted here, on the server, so the client renders exactly the same text.
  const fmt = new Intl.DateTimeFormat(HTML_LANG[locale], { dateStyle: "short", timeStyle: "short" });
  const filters: { key: JobStatus | null; label: string; n: number }[] = [
    { key: null, label: t("runs.list.filterAll"), n: total },
    ...JOB_STATUSES.map((s) => ({ key: s, label: t(`runs.status.${s}` as MessageKey), n: counts[s] })),
  ];
  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <h1 className="text-xl font-semibold">{t("runs.list.title")}</h1>
        <Link href="/train" className="btn btn-primary">
          {t("runs.list.new")}
        </Link>
      </div>
      <nav aria-label={t("runs.list.filter")}>
        <ul className="flex flex-wrap gap-2 text-sm">
          {filters.map((f) => {
            const current = f.key === status;
            return (
              <li key={f.key ?? "all"}>
                <Link
                  href={f.key ? `/runs?status=${f.key}` : "/runs"}
                  aria-current={current ? "page" : undefined}
                  data-testid={`filter-${f.key ?? "all"}`}
                  className={`inline-block rounded-full border px-3 py-1 ${current ? "border-indigo-600 bg-indigo-600 text-white" : "border-slate-300 bg-white text-slate-700 hover:bg-slate-50"}`}
                >
                  {f.label} <span className={current ? "text-indigo-100" : "text-slate-500"}>({f.n})</span>
                </Link>
              </li>
            );
          })}
        </ul>
      </nav>
      {rows.length === 0 ? (
        <p className="card text-sm text-slate-600">
          {status ? t("runs.list.emptyFiltered", { status: t(`runs.status.${status}` as MessageKey) }) : t("runs.list.empty")}
        </p>
      ) : (
        <>
          <RunsTable rows={rows.map((r) => ({ ...r, started: r.startedAt ? fmt.format(new Date(r.startedAt)) : null }))} />
          {rows.length >= RUNS_LIST_LIMIT && <p className="text-xs text-slate-500">{t("runs.list.truncated", { n: RUNS_LIST_LIMIT })}</p>}
        </>
      )}
    </div>
  );
}
