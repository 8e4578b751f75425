// Evaluate & Predict and Export (LlamaBoard's Evaluate and Export tabs): a form per section and the
// jobs of that kind with their results, re-read from the database while any of them is active.
import Link from "next/link";
import { z } from "zod";
import { taskJobs } from "@/lib/data/evaluate";
import { env } from "@/lib/env";
import { getT } from "@/lib/i18n/server";
import { listModels } from "@/lib/models";
import { listDatasets } from "@/lib/datasets/registry";
import { listAdapterRuns } from "@/lib/jobs/adapter-runs";
import { exportsRoot } from "@/lib/jobs/exports-root";
import { DEFAULT_EVAL_CONFIG, evalResultSchema } from "@/lib/schemas/eval-config";
import { DEFAULT_EXPORT_CONFIG, exportResultSchema } from "@/lib/schemas/export-config";
import { StatusBadge } from "@/components/StatusBadge";
import { EvalForm } from "@/components/evaluate/EvalForm";
import { ExportForm } from "@/components/evaluate/ExportForm";
import { EvalMetrics, ExportFiles } from "@/components/evaluate/JobResults";
import { AutoRefresh } from "@/components/evaluate/AutoRefresh";
import { AbortButton } from "@/components/evaluate/AbortButton";
import { jobNumber } from "@/lib/jobs/job-number";

export const dynamic = "force-dynamic";

const searchSchema = z.object({
  tab: z.enum(["eval", "export"]).catch("eval"),
  job: z.coerce.number().int().positive().optional().catch(undefined),
});

const strings = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).flatMap(([k, v]) => (typeof v === "number" || typeof v === "string" ? [[k, String(v)]] : [])));

function parseResult(kind: string, text: string | null) {
  if (!text) return null;
  try {
    const json: unknown = JSON.parse(text);
    if (kind === "eval") {
      const r = evalResultSchema.safeParse(json);
      return r.success ? { kind: "eval" as const, data: r.data } : null;
    }
    const r = exportResultSchema.safeParse(json);
    return r.success ? { kind: "export" as const, data: r.data } : null;
  } catch {
    return null;
  }
}

export default async function EvaluatePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { tab, job: focus } = searchSchema.parse(await searchParams);
  const t = await getT();
  const { modelRoots, dataDir, runsDir } = env();
  const models = listModels(modelRoots).map((m) => ({ path: m.path, name: m.name, demo: m.demo }));
  const adapterRuns = await listAdapterRuns(runsDir);
  const adapters = adapterRuns.map((a) => ({ id: a.id, number: a.number, name: a.name, modelPath: a.modelPath }));
  const jobs = await taskJobs(tab);
  const active = jobs.some((j) => j.status === "queued" || j.status === "running");

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">{t("evaluate.title")}</h1>
      <nav aria-label={t("evaluate.tabs.label")} className="flex gap-2 border-b border-slate-200">
        {(["eval", "export"] as const).map((k) => (
          <Link
            key={k}
            href={`/evaluate?tab=${k}`}
            aria-current={tab === k ? "page" : undefined}
            className={`-mb-px border-b-2 px-3 py-2 text-sm font-medium ${tab === k ? "border-indigo-600 text-indigo-700" : "border-transparent text-slate-600 hover:text-slate-900"}`}
          >
            {t(k === "eval" ? "evaluate.tab.eval" : "evaluate.tab.export")}
          </Link>
        ))}
      </nav>
      <p className="text-sm text-slate-600">{t(tab === "eval" ? "evaluate.intro.eval" : "evaluate.intro.export")}</p>
      {models.length === 0 && <p className="card text-sm">{t("evaluate.form.noModels")}</p>}

      {tab === "eval" ? (
        <EvalForm
          models={models}
          adapters={adapters}
          datasets={(await listDatasets(dataDir)).map((d) => ({ name: d.name, records: d.records, hasPlaceholders: d.hasPlaceholders, error: d.error ?? null, kind: d.kind }))}
          defaults={strings(DEFAULT_EVAL_CONFIG)}
        />
      ) : (
        <>
          <ExportForm models={models} adapters={adapters} defaults={strings(DEFAULT_EXPORT_CONFIG)} exportRoot={exportsRoot()} />
          <section className="card space-y-2" aria-labelledby="download-title">
            <h2 id="download-title" className="font-semibold">{t("evaluate.download.title")}</h2>
            <p className="text-sm text-slate-600">{t("evaluate.download.help")}</p>
            {adapters.length === 0 ? (
              <p className="text-sm">{t("evaluate.download.none")}</p>
            ) : (
              <ul className="space-y-1 text-sm">
                {adapters.slice(0, 10).map((a) => (
                  <li key={a.id}>
                    <a className="text-indigo-700 underline" href={`/api/runs/${a.id}/adapter`} download data-testid={`adapter-download-${a.id}`}>
                      {t("evaluate.download.link", { id: a.number })}
                    </a>{" "}
                    <span className="text-slate-500">{a.name}</span>
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}

      <section className="space-y-3" aria-labelledby="jobs-title">
        <h2 id="jobs-title" className="text-lg font-semibold">{t(tab === "eval" ? "evaluate.jobs.eval" : "evaluate.jobs.export")}</h2>
        <AutoRefresh active={active} />
        {jobs.length === 0 && <p className="text-sm text-slate-600">{t("evaluate.jobs.none")}</p>}
        {jobs.map((j, i) => {
          const result = parseResult(j.kind, j.result);
          const adapterRun = (() => {
            try {
              const c: unknown = JSON.parse(j.config);
              return z.object({ adapter_run: z.number().nullable() }).safeParse(c).data?.adapter_run ?? null;
            } catch {
              return null;
            }
          })();
          const open = focus ? focus === j.id : i === 0;
          return (
            <article key={j.id} id={`job-${j.id}`} className="card space-y-3" data-testid={`task-job-${j.id}`}>
              <header className="flex flex-wrap items-center gap-3">
                <span className="font-medium" data-testid="task-job-label">{t(j.kind === "eval" ? "evaluate.jobs.evalLabel" : "evaluate.jobs.exportLabel", { n: jobNumber(j), name: j.name })}</span>
                <StatusBadge status={j.status} />
                {j.totalSteps ? <span className="text-xs text-slate-500" data-testid="task-progress">{t("evaluate.jobs.progress", { step: j.step, total: j.totalSteps })}</span> : null}
                <span className="text-xs text-slate-500">
                  {j.modelPath.split("/").at(-1)} · {t("evaluate.jobs.adapter")}: {adapterRun ? `#${adapters.find((a) => a.id === adapterRun)?.number ?? adapterRun}` : t("evaluate.jobs.base")}
                  {j.datasets ? ` · ${j.datasets}` : ""}
                </span>
                {(j.status === "queued" || j.status === "running") && <AbortButton jobId={j.id} />}
              </header>
              {j.error && (
                <p role="alert" className="whitespace-pre-wrap text-sm text-red-700">
                  {j.error}
                </p>
              )}
              {result?.kind === "eval" && <EvalMetrics result={result.data} t={t} />}
              {result?.kind === "export" && <ExportFiles result={result.data} t={t} />}
              <details open={open && !result ? true : undefined}>
                <summary className="cursor-pointer text-sm text-slate-600">{t("evaluate.jobs.log")}</summary>
                <pre className="mt-2 max-h-64 overflow-auto whitespace-pre-wrap rounded bg-slate-900 p-2 text-xs text-slate-100">{j.logTail || "—"}</pre>
              </details>
            </article>
          );
        })}
      </section>
    </div>
  );
}
