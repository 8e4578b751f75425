/**
 * Preference-training health: what the DPO/ORPO/SimPO/KTO/RM metrics (TRL's names, logged beside
 * the loss) say about a run, each with a suggestion. Pure and deterministic like loss-health.ts;
 * the Run page shows these findings in the same panel.
 *
 * - margins_flat: rewards/margins has not grown from the first logged steps to the last ones.
 * - accuracy_stuck: rewards/accuracies (rm: accuracy) stays near 0.5, i.e. chance.
 * - chosen_falling: logps/chosen falls together with logps/rejected: the model lowers the
 *   probability of both answers and wins the margin only because the rejected one falls faster,
 *   the known failure of DPO on similar answers.
 * - pref_learning: none of the above, margins growing and accuracy above chance.
 * Each rule compares the medians of the first and last quarters of the logged points, so the
 * noise of small batches does not decide; a fall in log-probs counts only beyond the series' own
 * batch-to-batch spread (its median absolute deviation): summed log-probs vary with each batch's
 * answer lengths.
 */
import type { StageMetric, StageMetrics } from "@/lib/schemas/trainer-events";
import type { HealthFinding, Severity } from "./loss-health";

export type PreferenceKind = "margins_flat" | "accuracy_stuck" | "chosen_falling" | "pref_learning";
export interface PreferenceFinding extends Omit<HealthFinding, "kind"> {
  kind: PreferenceKind;
}

export interface PreferencePoint {
  step: number;
  stageMetrics?: StageMetrics | null;
}

/** Logged points needed before any preference finding. */
export const MIN_PREF_POINTS = 6;
/** Accuracy within this distance of 0.5 (in the last quarter) reads as chance. */
export const CHANCE_BAND = 0.1;
/** Margins must grow by at least this much (reward units, beta × log-ratio) to count as growing. */
export const MIN_MARGIN_GAIN = 0.02;
/** Summed log-probs must fall by at least this much (nats), and by more than their spread, to count as falling. */
export const MIN_LOGP_DROP = 1;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** Median of the first and of the last quarter (at least 2 points each) of one metric's series. */
function ends(points: PreferencePoint[], key: StageMetric): { first: number; last: number; lastStep: number; spread: number } | null {
  const series = points.flatMap((p) => {
    const v = p.stageMetrics?.[key];
    return v === undefined || v === null ? [] : [{ step: p.step, v }];
  });
  if (series.length < MIN_PREF_POINTS) return null;
  const q = Math.max(2, Math.floor(series.length / 4));
  return {
    first: median(series.slice(0, q).map((s) => s.v)),
    last: median(series.slice(-q).map((s) => s.v)),
    lastStep: series[series.length - 1].step,
    spread: median(series.map((s) => Math.abs(s.v - median(series.map((x) => x.v))))),
  };
}

const finding = (kind: PreferenceKind, severity: Severity, step: number | null, values: Record<string, number>): PreferenceFinding => ({
  kind,
  severity,
  step,
  values,
});

/** Findings for a preference or reward run's points; [] when the points carry no stage metrics. */
export function analyzePreferenceHealth(points: PreferencePoint[]): PreferenceFinding[] {
  const sorted = [...points].sort((a, b) => a.step - b.step);
  const out: PreferenceFinding[] = [];
  const accuracy = ends(sorted, "rewards/accuracies") ?? ends(sorted, "accuracy");
  const margins = ends(sorted, "rewards/margins");
  const chosen = ends(sorted, "logps/chosen");
  const rejected = ends(sorted, "logps/rejected");

  if (accuracy && Math.abs(accuracy.last - 0.5) <= CHANCE_BAND) {
    out.push(finding("accuracy_stuck", "warn", accuracy.lastStep, { accuracy: round(accuracy.last) }));
  }
  if (margins && margins.last - margins.first < MIN_MARGIN_GAIN) {
    out.push(finding("margins_flat", "warn", margins.lastStep, { from: round(margins.first), to: round(margins.last) }));
  }
  const falls = (e: { first: number; last: number; spread: number }) => e.first - e.last >= Math.max(MIN_LOGP_DROP, e.spread);
  if (chosen && rejected && falls(chosen) && falls(rejected)) {
    out.push(
      finding("chosen_falling", "warn", chosen.lastStep, {
        chosenFrom: round(chosen.first),
        chosenTo: round(chosen.last),
        rejectedFrom: round(rejected.first),
        rejectedTo: round(rejected.last),
      }),
    );
  }
  if (out.length === 0 && (margins || accuracy)) {
    out.push(
      finding("pref_learning", "ok", (margins ?? accuracy)!.lastStep, {
        accuracy: accuracy ? round(accuracy.last) : NaN,
        margin: margins ? round(margins.last) : NaN,
      }),
    );
  }
  return out;
}
