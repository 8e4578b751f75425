"use client";
// The loss-health findings (lib/metrics/loss-health.ts) in words, recomputed as points arrive.
import { useMemo } from "react";
import { analyzeLossHealth, type HealthFinding, type Severity } from "@/lib/metrics/loss-health";
import { analyzePreferenceHealth, type PreferenceFinding } from "@/lib/metrics/preference-health";
import type { EvalPoint, MetricPoint } from "@/lib/schemas/socket";
import { useT } from "@/lib/i18n/client";
import type { MessageKey, TFunction } from "@/lib/i18n/translate";

const STYLE: Record<Severity, string> = {
  ok: "border-emerald-200 bg-emerald-50 text-emerald-900",
  info: "border-sky-200 bg-sky-50 text-sky-900",
  warn: "border-amber-300 bg-amber-50 text-amber-900",
  error: "border-red-300 bg-red-50 text-red-900",
};

/** The sentence and the suggestion of one finding. */
export function describeFinding(t: TFunction, f: HealthFinding | PreferenceFinding): { text: string; hint: string } {
  // A number the run did not log (NaN) reads as a dash.
  const values = Object.fromEntries(Object.entries(f.values).map(([k, v]) => [k, Number.isNaN(v) ? "—" : v]));
  const vars = { ...values, step: f.step ?? "?" };
  let key = f.kind as string;
  let hintKey = `${f.kind}.hint`;
  if (f.kind === "flat" && f.values.zero === 1) [key, hintKey] = ["flatZero", "flatZero.hint"];
  if (f.kind === "diverged" && f.values.to === undefined) key = "divergedNaN";
  return { text: t(`runs.health.${key}` as MessageKey, vars), hint: t(`runs.health.${hintKey}` as MessageKey, vars) };
}

export function LossHealthPanel({ points, evalPoints, finished }: { points: MetricPoint[]; evalPoints: EvalPoint[]; finished: boolean }) {
  const t = useT();
  // Preference stages first: their metrics say more than the loss about what the run learns.
  const findings = useMemo(
    () => [...analyzePreferenceHealth(points), ...analyzeLossHealth(points, evalPoints, { finished })],
    [points, evalPoints, finished],
  );
  return (
    <section aria-labelledby="loss-health-title" data-testid="loss-health" data-kinds={findings.map((f) => f.kind).join(",")}>
      <h2 id="loss-health-title" className="mb-2 font-semibold">
        {t("runs.health.title")}
      </h2>
      <ul className="space-y-2">
        {findings.map((f) => {
          const { text, hint } = describeFinding(t, f);
          return (
            <li key={f.kind} className={`rounded-md border p-3 text-sm ${STYLE[f.severity]}`} data-testid={`health-${f.kind}`} data-step={f.step ?? ""}>
              <p className="font-medium">{text}</p>
              <p className="mt-0.5">{hint}</p>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
