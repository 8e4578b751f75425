"use client";
// Step / total, epoch, elapsed and remaining time (from the pace so far, and only while the run
// is active: a finished, failed or cancelled run has nothing remaining), and the bar itself.
import { estimateRemaining, formatDuration } from "@/lib/format/time";
import { useT } from "@/lib/i18n/client";

export function ProgressBar({
  step,
  total,
  elapsedS,
  epoch = null,
  active = true,
}: {
  step: number;
  total: number | null;
  elapsedS: number | null;
  epoch?: number | null;
  /** Queued or running: show the time remaining. */
  active?: boolean;
}) {
  const t = useT();
  const pct = total ? Math.min(100, (step / total) * 100) : 0;
  const eta = estimateRemaining(elapsedS, step, total);
  return (
    <div>
      <div className="flex flex-wrap justify-between gap-x-4 text-sm text-slate-600">
        <span>
          <span data-testid="progress-steps">{t("runs.progress.steps", { step, total: total ?? "?" })}</span>
          {epoch != null && <span data-testid="progress-epoch"> · {t("runs.progress.epoch", { epoch: epoch.toFixed(2) })}</span>}
        </span>
        <span>
          <span data-testid="progress-elapsed">{t("runs.progress.elapsed", { elapsed: formatDuration(elapsedS) })}</span>
          {active && (
            <>
              {" · "}
              <span data-testid="progress-eta">{t("runs.progress.remaining", { eta: formatDuration(eta) })}</span>
            </>
          )}
        </span>
      </div>
      <div
        className="mt-1 h-2.5 w-full overflow-hidden rounded-full bg-slate-200"
        role="progressbar"
        aria-label={t("runs.progress.label")}
        aria-valuemin={0}
        aria-valuemax={total ?? 0}
        aria-valuenow={step}
      >
        <div className="h-full bg-indigo-600 transition-all" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
