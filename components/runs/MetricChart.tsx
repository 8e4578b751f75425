"use client";
// One small chart of one per-step metric (learning rate, gradient norm, tokens/s, GPU memory).
// Steps where the metric was not reported are gaps; a metric never reported shows a note instead.
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { MetricPoint } from "@/lib/schemas/socket";
import { useT } from "@/lib/i18n/client";

export function MetricChart({
  title,
  points,
  value,
  color,
  emptyNote,
  format = (v) => (Math.abs(v) < 0.01 && v !== 0 ? v.toExponential(2) : v.toLocaleString(undefined, { maximumFractionDigits: 3 })),
  testId,
}: {
  title: string;
  points: MetricPoint[];
  value: (p: MetricPoint) => number | null | undefined;
  color: string;
  emptyNote: string;
  format?: (v: number) => string;
  testId: string;
}) {
  const t = useT();
  const data = points.map((p) => ({ step: p.step, v: value(p) ?? null }));
  const values = data.flatMap((d) => (d.v == null ? [] : [d.v]));
  const reported = values.length;
  return (
    <figure
      className="min-w-0"
      data-testid={testId}
      data-points={reported}
      data-first={values[0] ?? ""}
      data-last={values.at(-1) ?? ""}
      data-max={reported ? Math.max(...values) : ""}
    >
      <figcaption className="text-sm font-medium text-slate-700">{title}</figcaption>
      <div className="h-40 w-full">
        {reported === 0 ? (
          <p className="flex h-full items-center justify-center px-4 text-center text-xs text-slate-500">{emptyNote}</p>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={data} margin={{ top: 8, right: 12, bottom: 4, left: 4 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
              <XAxis dataKey="step" type="number" domain={["dataMin", "dataMax"]} tick={{ fontSize: 11 }} />
              <YAxis tick={{ fontSize: 11 }} width={64} tickFormatter={(v: number) => format(v)} domain={["auto", "auto"]} />
              <Tooltip formatter={(v) => (typeof v === "number" ? format(v) : String(v))} labelFormatter={(s) => t("runs.chart.atStep", { step: String(s) })} />
              <Line type="linear" dataKey="v" name={title} stroke={color} strokeWidth={1.5} dot={false} isAnimationActive={false} connectNulls={false} />
            </LineChart>
          </ResponsiveContainer>
        )}
      </div>
    </figure>
  );
}
