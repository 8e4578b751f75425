"use client";
// Raw loss is noisy at small batch sizes; the smoothed line (TensorBoard's debiased EMA, with a
// slider for its weight) is what to read, the raw one shows the spread. Eval loss shares the axis.
// data-points / data-steps expose what is drawn, so tests can compare it with the database;
// data-scale says whether the loss axis is linear or logarithmic ("Log scale", kept per browser).
import { useId, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { EvalPoint, MetricPoint } from "@/lib/schemas/socket";
import { smooth } from "@/lib/metrics/smooth";
import { useT } from "@/lib/i18n/client";
import { formatLogTick, positiveDomain, positiveOrNull } from "@/lib/metrics/log-scale";
import { LogScaleToggle } from "./runs/LogScaleToggle";
import { useLogScale } from "./runs/use-log-scale";

interface Row {
  step: number;
  loss?: number | null;
  smoothed?: number | null;
  evalLoss?: number;
}

export const DEFAULT_SMOOTHING = 0.6;

export function LossChart({ points, evalPoints = [] }: { points: MetricPoint[]; evalPoints?: EvalPoint[] }) {
  const t = useT();
  const sliderId = useId();
  const [smoothing, setSmoothing] = useState(DEFAULT_SMOOTHING);
  const smoothed = smooth(points.map((p) => p.loss), smoothing);
  // One row per step that has either series; eval points are sparse (every eval_steps).
  const rows = new Map<number, Row>();
  points.forEach((p, i) => rows.set(p.step, { step: p.step, loss: p.loss, smoothed: smoothed[i] }));
  for (const e of evalPoints) rows.set(e.step, { ...(rows.get(e.step) ?? { step: e.step }), evalLoss: e.evalLoss });
  const sorted = [...rows.values()].sort((a, b) => a.step - b.step);
  const [logScale, setLogScale] = useLogScale();
  // On a log axis a value <= 0 cannot be drawn: it becomes a gap, and the domain spans the rest.
  const logData = logScale
    ? sorted.map((r) => ({ step: r.step, loss: positiveOrNull(r.loss), smoothed: positiveOrNull(r.smoothed), evalLoss: positiveOrNull(r.evalLoss) ?? undefined }))
    : null;
  const logDomain = logData ? positiveDomain(logData.flatMap((r) => [r.loss, r.smoothed, r.evalLoss])) : null;
  const log = logData !== null && logDomain !== null;
  const data = log ? logData : sorted;
  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <label htmlFor={sliderId} className="text-slate-600">
          {t("runs.run.smoothing")}
        </label>
        <input
          id={sliderId}
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={smoothing}
          onChange={(e) => setSmoothing(Number(e.target.value))}
          className="w-48 accent-indigo-600"
          data-testid="smoothing"
        />
        <output htmlFor={sliderId} className="w-10 tabular-nums text-slate-700">
          {smoothing.toFixed(2)}
        </output>
        <LogScaleToggle on={logScale} onChange={setLogScale} />
      </div>
      <div
        className="h-72 w-full"
        data-testid="loss-chart"
        data-points={points.length}
        data-eval-points={evalPoints.length}
        data-steps={points.map((p) => p.step).join(",")}
        data-scale={log ? "log" : "linear"}
      >
        {points.length === 0 ? (
          <div className="flex h-full items-center justify-center text-sm text-slate-500">{t("runs.chart.waiting")}</div>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={data} margin={{ top: 8, right: 16, bottom: 16, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
              <XAxis dataKey="step" type="number" domain={["dataMin", "dataMax"]} label={{ value: t("runs.chart.step"), position: "insideBottom", offset: -8, fill: "#475569" }} />
              <YAxis
                label={{ value: t("runs.chart.loss"), angle: -90, position: "insideLeft", fill: "#475569" }}
                {...(log ? { scale: "log" as const, domain: logDomain!, allowDataOverflow: true, tickFormatter: formatLogTick } : { domain: [0, "auto"] })}
              />
              <Tooltip formatter={(v) => (typeof v === "number" ? v.toFixed(4) : String(v))} />
              {/* Legend text in one readable colour: the series colours are too light for text. */}
              <Legend verticalAlign="top" height={24} formatter={(value) => <span style={{ color: "#334155" }}>{value}</span>} />
              <Line type="linear" dataKey="loss" name={t("runs.chart.lossRaw")} stroke="#a5b4fc" dot={false} isAnimationActive={false} connectNulls={false} />
              <Line type="monotone" dataKey="smoothed" name={t("runs.chart.lossSmoothed")} stroke="#4338ca" strokeWidth={2} dot={false} isAnimationActive={false} />
              {evalPoints.length > 0 && (
                <Line type="linear" dataKey="evalLoss" name={t("runs.chart.evalLoss")} stroke="#dc2626" strokeWidth={2} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
              )}
            </LineChart>
          </ResponsiveContainer>
        )}
      </div>
    </div>
  );
}
