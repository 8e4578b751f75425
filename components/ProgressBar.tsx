import { estimateRemaining, formatDuration } from "@/lib/format/time";

export function ProgressBar({ step, total, elapsedS }: { step: number; total: number | null; elapsedS: number | null }) {
  const pct = total ? Math.min(100, (step / total) * 100) : 0;
  const eta = estimateRemaining(elapsedS, step, total);
  return (
    <div>
      <div className="flex justify-between text-sm text-slate-600">
        <span data-testid="progress-steps">
          Step {step} / {total ?? "?"}
        </span>
        <span>
          Elapsed {formatDuration(elapsedS)} · Remaining {formatDuration(eta)}
        </span>
      </div>
      <div
        className="mt-1 h-2.5 w-full overflow-hidden rounded-full bg-slate-200"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={total ?? 0}
        aria-valuenow={step}
      >
        <div className="h-full bg-indigo-600 transition-all" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
