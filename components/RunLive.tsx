"use client";
// The live part of the Run page: status, progress, the latest figures, the charts and the log,
// kept current by useRunLive (components/runs/use-run-live.ts).
import type { JobSnapshot } from "@/lib/schemas/socket";
import { isFinalStatus } from "@/lib/queue/types";
import { useLocale, useT } from "@/lib/i18n/client";
import { HTML_LANG } from "@/lib/i18n/locales";
import { LossChart } from "./LossChart";
import { ProgressBar } from "./ProgressBar";
import { StatusBadge } from "./StatusBadge";
import { MetricChart } from "./runs/MetricChart";
import { StageMetricCharts } from "./runs/StageMetricCharts";
import { LossHealthPanel } from "./runs/LossHealthPanel";
import { LogViewer } from "./runs/LogViewer";
import { RunActions } from "./runs/RunActions";
import { useRunLive } from "./runs/use-run-live";
import { joinCurves, type Curve } from "@/lib/metrics/join-curves";

/** earlier: the curve of the runs this one continues; the loss chart draws it before this run's points. */
export function RunLive({
  initial,
  number,
  name,
  checkpoint,
  earlier = null,
}: {
  initial: JobSnapshot;
  /** What the page calls the run (jobNumber). */
  number: number;
  name: string;
  checkpoint: string | null;
  earlier?: Curve | null;
}) {
  const t = useT();
  const jobId = initial.job.jobId;
  const { job, setJob, points, evalPoints, log, connected } = useRunLive(initial);
  const last = points.at(-1);
  const step = Math.max(job.step, last?.step ?? 0);
  const finished = isFinalStatus(job.status);
  // The connection state and the time left mean something only while the run can still change.
  const active = job.status === "queued" || job.status === "running";
  const gpuMem = last?.gpuMemGib;
  const none = t("common.none");
  // The UI's locale, not the machine's: server and browser render the same digits.
  const lang = HTML_LANG[useLocale()];
  // The loss curve and its verdict span the runs this one continues, then this run.
  const curve = joinCurves(earlier, { points, evalPoints });

  return (
    <div className="space-y-4">
      <div className="card space-y-3">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <div className="flex items-center gap-3">
            <StatusBadge status={job.status} />
            {job.cancelRequested && job.status === "running" && <span className="text-sm text-amber-800">{t("runs.run.stopping")}</span>}
            {active && (
              <span className={`text-xs ${connected ? "text-emerald-700" : "text-slate-500"}`} data-testid="socket-state" data-connected={connected}>
                {connected ? t("runs.run.live") : t("runs.run.offline")}
              </span>
            )}
          </div>
          <RunActions jobId={jobId} number={number} name={name} job={job} checkpoint={checkpoint} onStatus={setJob} />
        </div>
        <ProgressBar step={step} total={job.totalSteps} elapsedS={last?.elapsedS ?? null} epoch={last?.epoch ?? null} active={active} />
        <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-6">
          <div><dt className="text-slate-500">{t("runs.run.stat.loss")}</dt><dd data-testid="last-loss">{last?.loss?.toFixed(4) ?? none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.epoch")}</dt><dd>{last ? last.epoch.toFixed(2) : none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.lr")}</dt><dd>{last ? last.lr.toExponential(2) : none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.evalLoss")}</dt><dd data-testid="last-eval-loss">{evalPoints.at(-1)?.evalLoss.toFixed(4) ?? none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.tokensPerSec")}</dt><dd>{last?.tokensPerSec ? Math.round(last.tokensPerSec).toLocaleString(lang) : none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.gpuMem")}</dt><dd data-testid="last-gpu-mem">{gpuMem != null ? `${gpuMem.toFixed(2)} GiB` : none}</dd></div>
        </dl>
        {job.status === "failed" && job.error && (
          <div role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-800" data-testid="run-error">
            <strong>{t("runs.run.failed")}</strong> <span className="whitespace-pre-wrap">{job.error}</span>
          </div>
        )}
      </div>
      {/* The curve and what it says, side by side where there is room. */}
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
        <div className="card min-w-0 lg:col-span-2">
          <h2 className="mb-2 font-semibold">{t("runs.run.lossTitle")}</h2>
          <LossChart {...curve} />
        </div>
        <div className="card">
          <LossHealthPanel points={curve.points} evalPoints={curve.evalPoints} finished={finished} />
        </div>
      </div>
      <StageMetricCharts points={points} />
      <div className="card">
        <h2 className="mb-2 font-semibold">{t("runs.run.metricsTitle")}</h2>
        <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
          <MetricChart testId="chart-lr" title={t("runs.chart.lr")} points={points} value={(p) => p.lr} color="#0891b2" emptyNote={t("runs.chart.noData")} format={(v) => v.toExponential(1)} />
          <MetricChart testId="chart-grad-norm" title={t("runs.chart.gradNorm")} points={points} value={(p) => p.gradNorm} color="#7c3aed" emptyNote={t("runs.chart.noData")} />
          <MetricChart testId="chart-tokens" title={t("runs.chart.tokensPerSec")} points={points} value={(p) => p.tokensPerSec} color="#059669" emptyNote={t("runs.chart.noData")} format={(v) => Math.round(v).toLocaleString(lang)} />
          <MetricChart testId="chart-gpu-mem" title={t("runs.chart.gpuMem")} points={points} value={(p) => p.gpuMemGib} color="#ea580c" emptyNote={t("runs.chart.noGpu")} />
        </div>
      </div>
      <div className="card">
        <LogViewer text={log} />
      </div>
    </div>
  );
}
