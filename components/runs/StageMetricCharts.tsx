"use client";
// The preference and reward stages' metrics (TRL's names, lib/schemas/trainer-events.ts
// STAGE_METRICS), one small chart each, shown only for the metrics the run logged.
import type { MetricPoint } from "@/lib/schemas/socket";
import { STAGE_METRICS, type StageMetric } from "@/lib/schemas/trainer-events";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { MetricChart } from "./MetricChart";

const COLORS: Record<StageMetric, string> = {
  "rewards/accuracies": "#16a34a",
  "rewards/margins": "#4f46e5",
  "rewards/chosen": "#0891b2",
  "rewards/rejected": "#dc2626",
  "logps/chosen": "#0e7490",
  "logps/rejected": "#b91c1c",
  kl: "#a16207",
  accuracy: "#16a34a",
};

/** "rewards/accuracies" → "chart-rewards-accuracies" (the test id) and "stage.rewards_accuracies" (the message). */
const slug = (m: StageMetric) => m.replace("/", "-");

export function StageMetricCharts({ points }: { points: MetricPoint[] }) {
  const t = useT();
  const logged = STAGE_METRICS.filter((m) => points.some((p) => p.stageMetrics?.[m] != null));
  if (logged.length === 0) return null;
  return (
    <div className="card" data-testid="stage-metrics">
      <h2 className="mb-1 font-semibold">{t("runs.stage.title")}</h2>
      <p className="mb-2 text-sm text-slate-600">{t("runs.stage.intro")}</p>
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        {logged.map((m) => (
          <MetricChart
            key={m}
            testId={`chart-${slug(m)}`}
            title={`${m} · ${t(`runs.stage.${m.replace("/", "_")}` as MessageKey)}`}
            points={points}
            value={(p) => p.stageMetrics?.[m]}
            color={COLORS[m]}
            emptyNote={t("runs.chart.noData")}
          />
        ))}
      </div>
    </div>
  );
}
