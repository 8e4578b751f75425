// Compare 2–6 runs: overlaid loss curves and the settings that differ. ?ids=1,2 names them;
// the picker on the page (or the Runs list's checkboxes) builds that URL.
import { compareChoices, compareRuns } from "@/lib/data/runs";
import { loadJobPoints } from "@/lib/jobs/snapshot";
import { parseCompareIds } from "@/lib/jobs/compare-ids";
import { diffConfigs, parseStoredConfig } from "@/lib/jobs/config-diff";
import { getT } from "@/lib/i18n/server";
import { ComparePicker } from "@/components/runs/ComparePicker";
import { CompareChart } from "@/components/runs/CompareChart";
import { SERIES_COLORS } from "@/lib/metrics/series-colors";
import { ConfigDiffTable } from "@/components/runs/ConfigDiffTable";
import { jobNumber } from "@/lib/jobs/job-number";

export const dynamic = "force-dynamic";

export default async function ComparePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  const t = await getT();
  const parsed = parseCompareIds(sp.ids);
  const choices = await compareChoices();

  let body: React.ReactNode = null;
  if (!parsed.ok && parsed.error !== "empty") {
    body = (
      <p role="alert" className="card border-red-200 bg-red-50 text-sm text-red-800" data-testid="compare-error">
        {parsed.error === "count" ? t("runs.compare.errorCount", { n: parsed.n }) : t("runs.compare.errorIds")}
      </p>
    );
  } else if (parsed.ok) {
    const jobs = await compareRuns(parsed.ids);
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const found = parsed.ids.filter((id) => byId.has(id)).map((id) => byId.get(id)!);
    const missing = parsed.ids.filter((id) => !byId.has(id));
    const points = await Promise.all(found.map((j) => loadJobPoints(j.id)));
    const series = found.map((j, i) => ({
      id: j.id,
      number: jobNumber(j),
      name: j.name,
      status: j.status,
      finalLoss: j.finalLoss,
      color: SERIES_COLORS[i % SERIES_COLORS.length],
      points: points[i].map((p) => ({ step: p.step, loss: p.loss })),
    }));
    const diff = diffConfigs(found.map((j) => parseStoredConfig(j.config)));
    body = (
      <>
        {missing.length > 0 && (
          <p role="alert" className="text-sm text-red-700" data-testid="compare-missing">
            {t("runs.compare.missing", { ids: missing.join(", ") })}
          </p>
        )}
        {found.length > 0 && (
          <>
            <section className="card" aria-labelledby="compare-loss-title">
              <h2 id="compare-loss-title" className="mb-2 font-semibold">
                {t("runs.compare.lossTitle")}
              </h2>
              <CompareChart series={series} />
            </section>
            <section className="card" aria-labelledby="compare-params-title">
              <h2 id="compare-params-title" className="mb-2 font-semibold">
                {t("runs.compare.paramsTitle")}
              </h2>
              <ConfigDiffTable runs={series.map((s) => ({ id: s.id, number: s.number, name: s.name, color: s.color }))} diff={diff} />
            </section>
          </>
        )}
      </>
    );
  }

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">{t("runs.compare.title")}</h1>
      {choices.length === 0 ? (
        <p className="card text-sm text-slate-600">{t("runs.compare.noRuns")}</p>
      ) : (
        <ComparePicker runs={choices} initial={parsed.ok ? parsed.ids : []} />
      )}
      {body}
    </div>
  );
}
