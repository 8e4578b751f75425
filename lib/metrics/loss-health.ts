/**
 * Loss health: what a training curve shows, in the terms the LLaMA-Factory tutorial teaches
 * (still falling, converged, still high, flat, spike / divergence, overfitting), with the step
 * where it happened. Pure and deterministic: the Run page recomputes it as points arrive, and
 * the UI turns each finding's `kind` into a translated sentence and suggestion.
 *
 * Every rule works on medians and on the robust spread of the curve around its own running
 * median, so the ordinary step-to-step noise of small batches never reads as trouble.
 */

export type HealthKind =
  | "too_few" // not enough points to say anything yet
  | "falling" // still going down at the end
  | "converged" // low and flat at the end
  | "high" // final loss still above 1
  | "flat" // no progress from the start: learning rate too low, or labels masked
  | "spike" // a sudden jump that recovered: learning rate (or warmup) too aggressive
  | "diverged" // loss became non-finite, or went up and stayed up: learning rate too high
  | "overfitting"; // eval loss rising while training loss falls

export type Severity = "ok" | "info" | "warn" | "error";

export interface HealthFinding {
  kind: HealthKind;
  severity: Severity;
  /** The step where it happened (first spike, start of the rise, eval minimum, …), if any. */
  step: number | null;
  /** Numbers for the sentence, e.g. { loss: 0.42 } or { from: 1.9, to: 4.2 }. Rounded for display. */
  values: Record<string, number>;
}

export interface LossPoint {
  step: number;
  loss: number | null;
}
export interface EvalLossPoint {
  step: number;
  evalLoss: number;
}

export const MIN_POINTS = 6;
/** "Final loss still high" above this (the tutorial's rule of thumb). */
export const HIGH_LOSS = 1;

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warn: 1, info: 2, ok: 3 };

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** Median of the `w` values before index i (fewer at the start). */
function trailingMedian(xs: number[], i: number, w: number): number {
  return median(xs.slice(Math.max(0, i - w), i));
}

/** Robust noise level: median absolute deviation from a centred running median, scaled to σ. */
function noiseSigma(xs: number[]): number {
  const dev: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    const c = median(xs.slice(Math.max(0, i - 2), i + 3));
    dev.push(Math.abs(xs[i] - c));
  }
  return 1.4826 * median(dev);
}

export interface HealthOptions {
  /** The run has ended: say "final loss still high" rather than waiting for more steps. */
  finished?: boolean;
}

export function analyzeLossHealth(points: LossPoint[], evalPoints: EvalLossPoint[] = [], opts: HealthOptions = {}): HealthFinding[] {
  const sorted = [...points].sort((a, b) => a.step - b.step);
  const findings: HealthFinding[] = [];

  // A non-finite loss is divergence, whatever came before.
  const firstBad = sorted.find((p) => p.loss == null || !Number.isFinite(p.loss));
  const finite = sorted.filter((p): p is { step: number; loss: number } => p.loss != null && Number.isFinite(p.loss));
  if (firstBad) {
    findings.push({ kind: "diverged", severity: "error", step: firstBad.step, values: { from: round(finite.at(-1)?.loss ?? NaN) } });
    return findings;
  }
  if (finite.length < MIN_POINTS) return [{ kind: "too_few", severity: "info", step: null, values: { n: finite.length, need: MIN_POINTS } }];

  const ys = finite.map((p) => p.loss);
  const steps = finite.map((p) => p.step);
  const n = ys.length;
  const k = Math.max(3, Math.round(n / 6)); // window for "start" and "end" levels
  const start = median(ys.slice(0, k));
  const end = median(ys.slice(-k));
  const before = median(ys.slice(-2 * k, -k));
  const sigma = noiseSigma(ys);
  const minIdx = ys.indexOf(Math.min(...ys));

  // Flat from the start: the end level is within a few percent of the start level (or the loss
  // is exactly zero: every label masked). Nothing else about the curve is worth saying then.
  const allZero = ys.every((y) => y === 0);
  const drop = start > 0 ? (start - end) / start : 0;
  if (allZero || (n >= 8 && Math.abs(drop) < 0.05 && start - Math.min(...ys) < Math.max(3 * sigma, 0.1 * start))) {
    findings.push({ kind: "flat", severity: "warn", step: steps[0], values: { loss: round(end), zero: allZero ? 1 : 0 } });
    return withOverfitting(findings, finite, evalPoints);
  }

  // Spikes: a point far above the level just before it. "Far" is relative (half again the
  // level), absolute (0.3) and beyond the curve's own noise, so small-batch jitter never counts.
  let spikeIdx = -1;
  for (let i = 3; i < n; i++) {
    const prev = trailingMedian(ys, i, 5);
    if (ys[i] - prev > Math.max(0.5 * prev, 0.3, 6 * sigma)) {
      spikeIdx = i;
      break;
    }
  }
  // Divergence without a spike: the loss went up from its minimum and stayed up.
  const risen = end > Math.min(...ys) * 1.5 && end > start * 1.1 && end - Math.min(...ys) > 6 * sigma;
  if (spikeIdx >= 0) {
    const pre = trailingMedian(ys, spikeIdx, 5);
    const after = ys.slice(spikeIdx);
    const stayedUp = median(after.slice(-Math.max(2, Math.min(k, after.length)))) > Math.max(pre * 1.3, pre + 0.3);
    findings.push({
      kind: stayedUp ? "diverged" : "spike",
      severity: stayedUp ? "error" : "warn",
      step: steps[spikeIdx],
      values: { from: round(pre), to: round(ys[spikeIdx]) },
    });
    if (stayedUp) return withOverfitting(findings, finite, evalPoints);
  } else if (risen) {
    findings.push({ kind: "diverged", severity: "error", step: steps[minIdx], values: { from: round(ys[minIdx]), to: round(end) } });
    return withOverfitting(findings, finite, evalPoints);
  }

  // The end of the curve: still falling, or levelled off.
  // Theil–Sen slope (median of pairwise slopes) over the last third: robust to noisy steps.
  const m = Math.min(n, Math.max(2 * k, 10));
  const tail = finite.slice(-m);
  const slopes: number[] = [];
  for (let i = 0; i < tail.length; i++)
    for (let j = i + 1; j < tail.length; j++) slopes.push((tail[j].loss - tail[i].loss) / (tail[j].step - tail[i].step));
  const tailDrop = -median(slopes) * (tail[tail.length - 1].step - tail[0].step);
  const stillFalling = tailDrop > 0.05 * end && before - end > -sigma;
  if (stillFalling) {
    findings.push({ kind: "falling", severity: "info", step: steps[n - k], values: { loss: round(end), drop: round(tailDrop) } });
  } else if (end <= HIGH_LOSS) {
    const flatSince = steps[Math.max(0, n - 2 * k)];
    findings.push({ kind: "converged", severity: "ok", step: flatSince, values: { loss: round(end) } });
  }
  if (end > HIGH_LOSS && (opts.finished || !stillFalling)) {
    findings.push({ kind: "high", severity: "warn", step: steps[n - 1], values: { loss: round(end) } });
  }
  return withOverfitting(findings, finite, evalPoints);
}

/**
 * Overfitting: the eval loss reached its minimum and then rose clearly (5% and more than its own
 * step-to-step jitter) while the training loss kept falling over the same steps.
 */
function withOverfitting(findings: HealthFinding[], train: { step: number; loss: number }[], evalPoints: EvalLossPoint[]): HealthFinding[] {
  const ev = [...evalPoints].filter((e) => Number.isFinite(e.evalLoss)).sort((a, b) => a.step - b.step);
  if (ev.length >= 3) {
    const vals = ev.map((e) => e.evalLoss);
    const minI = vals.indexOf(Math.min(...vals));
    const lastTwo = median(vals.slice(-2));
    const jitter = vals.length > 2 ? median(vals.slice(1).map((v, i) => Math.abs(v - vals[i]))) : 0;
    if (minI < ev.length - 1 && lastTwo > vals[minI] * 1.05 && lastTwo - vals[minI] > jitter) {
      const minStep = ev[minI].step;
      const trainAt = median(train.filter((p) => Math.abs(p.step - minStep) <= Math.max(2, minStep * 0.1)).map((p) => p.loss));
      const trainEnd = median(train.slice(-Math.max(3, Math.round(train.length / 6))).map((p) => p.loss));
      if (Number.isFinite(trainAt) && trainEnd < trainAt) {
        findings.push({
          kind: "overfitting",
          severity: "warn",
          step: minStep,
          values: { evalMin: round(vals[minI]), evalLast: round(vals.at(-1)!), trainFrom: round(trainAt), trainTo: round(trainEnd) },
        });
      }
    }
  }
  return findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}

/** True when a finding says something is wrong (not just how far training has got). */
export function isTrouble(f: HealthFinding): boolean {
  return f.severity === "warn" || f.severity === "error";
}
