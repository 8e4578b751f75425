"use client";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { EvalPoint, MetricPoint } from "@/lib/schemas/socket";
import { smooth } from "@/lib/metrics/smooth";

// Raw loss is noisy at small batch sizes; the smoothed line is what to read, the raw one shows
// the spread. Both share one axis labelled with what it is.
interface Row {
  step: number;
  loss?: number | null;
  smoothed?: number | null;
  evalLoss?: number;
}

export function LossChart({
  points,
  evalPoints = [],
  smoothing = 0.6,
}: {
  points: MetricPoint[];
  evalPoints?: EvalPoint[];
  smoothing?: number;
}) {
  const smoothed = smooth(points.map((p) => p.loss), smoothing);
  // One row per step that has either series; eval points are sparse (every eval_steps).
  const rows = new Map<number, Row>();
  points.forEach((p, i) => rows.set(p.step, { step: p.step, loss: p.loss, smoothed: smoothed[i] }));
  for (const e of evalPoints) rows.set(e.step, { ...(rows.get(e.step) ?? { step: e.step }), evalLoss: e.evalLoss });
  const data = [...rows.values()].sort((a, b) => a.step - b.step);
  return (
    <div className="h-72 w-full" data-testid="loss-chart" data-points={points.length} data-eval-points={evalPoints.length}>
      {points.length === 0 ? (
        <div className="flex h-full items-center justify-center text-sm text-slate-500">Waiting for the first logged step…</div>
      ) : (
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={data} margin={{ top: 8, right: 16, bottom: 16, left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
            <XAxis dataKey="step" type="number" domain={["dataMin", "dataMax"]} label={{ value: "step", position: "insideBottom", offset: -8 }} />
            <YAxis label={{ value: "loss", angle: -90, position: "insideLeft" }} domain={[0, "auto"]} />
            <Tooltip formatter={(v) => (typeof v === "number" ? v.toFixed(4) : String(v))} />
            <Legend verticalAlign="top" height={24} />
            <Line type="linear" dataKey="loss" name="loss (raw)" stroke="#a5b4fc" dot={false} isAnimationActive={false} connectNulls={false} />
            <Line type="monotone" dataKey="smoothed" name="loss (smoothed)" stroke="#4338ca" strokeWidth={2} dot={false} isAnimationActive={false} />
            {evalPoints.length > 0 && (
              <Line type="linear" dataKey="evalLoss" name="eval loss" stroke="#dc2626" strokeWidth={2} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
            )}
          </LineChart>
        </ResponsiveContainer>
      )}
    </div>
  );
}
