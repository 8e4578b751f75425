/** "1h 02m", "3m 07s", "12s" */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

/** Remaining time from the pace so far (steps done over time spent). */
export function estimateRemaining(elapsedS: number | null, step: number, total: number | null): number | null {
  if (elapsedS == null || !total || step <= 0 || step >= total) return step >= (total ?? Infinity) ? 0 : null;
  return (elapsedS / step) * (total - step);
}
