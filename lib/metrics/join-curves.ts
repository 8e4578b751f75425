// One loss curve across a chain of continued runs: the earlier runs' points, then this run's.
// A continued run's steps carry on from where the earlier run ended, so the steps never overlap;
// an earlier point at or after this run's first step is dropped all the same (this run's wins).
import type { EvalPoint, MetricPoint } from "@/lib/schemas/socket";

export interface Curve {
  points: MetricPoint[];
  evalPoints: EvalPoint[];
}

function before<P extends { step: number }>(earlier: P[], own: P[]): P[] {
  const first = own.length > 0 ? own[0].step : Infinity;
  return earlier.filter((p) => p.step < first);
}

export function joinCurves(earlier: Curve | null, own: Curve): Curve {
  if (!earlier) return own;
  return {
    points: [...before(earlier.points, own.points), ...own.points],
    evalPoints: [...before(earlier.evalPoints, own.evalPoints), ...own.evalPoints],
  };
}
