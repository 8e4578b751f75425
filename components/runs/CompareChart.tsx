"use client";
// Overlaid training-loss curves, one colour per run, smoothed with the same debiased EMA as the
// Run page (slider; 0 = raw). The legend lists each run with its point count (data-points), so
// tests can see that every curve was drawn. "Log scale" is the Run page's choice, kept per browser
// (data-scale on the chart says which axis is drawn).
import { useId, useState } from "react";
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { smooth } from "@/lib/metrics/smooth";
import { useT } from "@/lib/i18n/client";
import { DEFAULT_SMOOTHING } from "@/components/LossChart";
import { formatLogTick, positiveDomain, positiveOrNull } from "@/lib/metrics/log-scale";
import { LogScaleToggle } from "./LogScaleToggle";
import { useLogScale } from "./use-log-scale";

export interface CompareSeries {
  id: number;
  /** The run's number among runs (lib/jobs/job-number.ts), what the legend shows. */
  number: number;
  name: string;
  status: string;
  finalLoss: number | null;
  color: string;
  points: { step: number; loss: number | null }[];
}

export function CompareChart({ series }: { series: CompareSeries[] }) {
  const t = useT();
  const sliderId = useId();
  const [smoothing, setSmoothing] = useState(DEFAULT_SMOOTHING);
  const [logScale, setLogScale] = useLogScale();
  const rows = new Map<number, Record<string, number | null>>();
  const drawn: (number | null)[] = [];
  for (const s of series) {
    const sm = smooth(s.points.map((p) => p.loss), smoothing);
    s.points.forEach((p, i) => {
      const row = rows.get(p.step) ?? { step: p.step };
      // On a log axis a value <= 0 cannot be drawn: it becomes a gap, and the domain spans the rest.
      row[`r${s.id}`] = logScale ? positiveOrNull(sm[i]) : sm[i];
      drawn.push(row[`r${s.id}`]);
      rows.set(p.step, row);
    });
  }
  const logDomain = logScale ? positiveDomain(drawn) : null;
  const data = [...rows.values()].sort((a, b) => (a.step as number) - (b.step as number));
  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <label htmlFor={sliderId} className="text-slate-600">
          {t("runs.run.smoothing")}
        </label>
        <input id={sliderId} type="range" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))} className="w-48 accent-indigo-600" />
        <output htmlFor={sliderId} className="w-10 tabular-nums text-slate-700">
          {smoothing.toFixed(2)}
        </output>
        <LogScaleToggle on={logScale} onChange={setLogScale} />
      </div>
      <ul className="flex flex-wrap gap-x-5 gap-y-1 text-sm" data-testid="compare-legend">
        {series.map((s) => (
          <li key={s.id} className="flex items-center gap-2" data-testid={`compare-series-${s.id}`} data-points={s.points.length}>
            <span className="inline-block h-1 w-5 rounded" style={{ background: s.color }} aria-hidden />
            <span>
              #{s.number} {s.name}
            </span>
            <span className="text-xs text-slate-600">
              {t("runs.compare.points", { n: s.points.length })}
              {s.finalLoss != null && ` · ${t("runs.compare.finalLoss", { loss: s.finalLoss.toFixed(4) })}`}
            </span>
          </li>
        ))}
      </ul>
      <div className="h-80 w-full" data-testid="compare-chart" data-series={series.length} data-scale={logDomain ? "log" : "linear"}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={data} margin={{ top: 8, right: 16, bottom: 16, left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
            <XAxis dataKey="step" type="number" domain={["dataMin", "dataMax"]} label={{ value: t("runs.chart.step"), position: "insideBottom", offset: -8, fill: "#475569" }} />
            <YAxis
              label={{ value: t("runs.chart.loss"), angle: -90, position: "insideLeft", fill: "#475569" }}
              {...(logDomain ? { scale: "log" as const, domain: logDomain, allowDataOverflow: true, tickFormatter: formatLogTick } : { domain: [0, "auto"] })}
            />
            <Tooltip formatter={(v) => (typeof v === "number" ? v.toFixed(4) : String(v))} />
            {series.map((s) => (
              <Line key={s.id} type="monotone" dataKey={`r${s.id}`} name={`#${s.number} ${s.name}`} stroke={s.color} strokeWidth={2} dot={false} connectNulls isAnimationActive={false} />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </div>
  );
}
