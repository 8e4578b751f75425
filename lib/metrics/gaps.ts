/**
 * Whether a live point at `step` leaves a hole after the points already drawn: the trainer logs
 * every `logging_steps`, so consecutive points are that far apart, and a point further on means
 * some live events were missed (e.g. emitted while a socket was re-joining its room). The Run
 * page then reads the history again. Steps at or before the newest one (a resumed run re-logging
 * from its checkpoint) are never a gap.
 */
export function leavesGap(maxStep: number, spacing: number | null, step: number): boolean {
  if (maxStep <= 0 || spacing == null || spacing <= 0) return false;
  return step - maxStep > spacing;
}

/** The spacing of the newest two steps (ascending), or null with fewer than two. */
export function lastSpacing(sortedSteps: number[]): number | null {
  const n = sortedSteps.length;
  return n >= 2 ? sortedSteps[n - 1] - sortedSteps[n - 2] : null;
}
