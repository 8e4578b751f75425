// A logarithmic loss axis. recharts' scale="log" cannot place 0 or a negative value (log(0) is
// -Infinity, which blanks the whole line), and its default domain starts at 0; so on a log axis
// non-positive values become gaps and the domain spans the positive values only.

/** The value itself when it can sit on a log axis (finite and > 0), else null (a gap). */
export function positiveOrNull(v: number | null | undefined): number | null {
  return v != null && Number.isFinite(v) && v > 0 ? v : null;
}

/** [smallest, largest] positive finite value; null when there is none. A single value gets a
 *  range around it (a factor of 2 each way), since a log axis needs two distinct ends. */
export function positiveDomain(values: Iterable<number | null | undefined>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    const p = positiveOrNull(v);
    if (p === null) continue;
    if (p < lo) lo = p;
    if (p > hi) hi = p;
  }
  if (lo === Infinity) return null;
  return lo === hi ? [lo / 2, hi * 2] : [lo, hi];
}

/** Tick text on a log axis: three significant digits, without float noise (0.30000000000000004). */
export function formatLogTick(v: number): string {
  return String(Number(v.toPrecision(3)));
}
