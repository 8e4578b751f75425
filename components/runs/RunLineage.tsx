// What links a run to others and how it ended early: "Continued from Run #N" (with the step range
// its curve adds to the chart), "Continued as Run #M", and the early-stopping reason. A server
// component of the Run page.
import Link from "next/link";
import type { StoppedEarly } from "@/lib/schemas/stopped-early";
import type { MessageKey, TFunction } from "@/lib/i18n/translate";

export interface LineageProps {
  t: TFunction;
  /** id: for links; number: what the page calls the run (jobNumber). */
  earlier: { id: number; number: number; name: string; fromStep: number | null; toStep: number | null } | null;
  continuations: { id: number; number: number; name: string; status: string }[];
  stoppedEarly: StoppedEarly | null;
}

export function RunLineage({ t, earlier, continuations, stoppedEarly }: LineageProps) {
  if (!earlier && continuations.length === 0 && !stoppedEarly) return null;
  return (
    <div className="card space-y-1 text-sm text-slate-700" data-testid="run-lineage">
      {stoppedEarly && (
        <p className="font-medium text-emerald-800" data-testid="stopped-early">
          {t("runs.lifecycle.stoppedEarly", {
            delta: stoppedEarly.min_delta,
            patience: stoppedEarly.patience,
            best: stoppedEarly.best_eval_loss.toFixed(3),
            step: stoppedEarly.best_step,
          })}
          {stoppedEarly.saved_step !== undefined && (
            <>
              {" "}
              {t(stoppedEarly.saved_step === stoppedEarly.best_step ? "runs.lifecycle.savedBest" : "runs.lifecycle.savedLast", {
                step: stoppedEarly.saved_step,
              })}
            </>
          )}
        </p>
      )}
      {earlier && (
        <p data-testid="continued-from" data-run={earlier.id}>
          <Link href={`/runs/${earlier.id}`} className="text-indigo-700 hover:underline">
            {t("runs.lifecycle.continuedFrom", { id: earlier.number, name: earlier.name })}
          </Link>{" "}
          {earlier.fromStep !== null && earlier.toStep !== null && t("runs.lifecycle.continuedFromNote", { from: earlier.fromStep, to: earlier.toStep })}
        </p>
      )}
      {continuations.map((c) => (
        <p key={c.id} data-testid="continued-as" data-run={c.id}>
          <Link href={`/runs/${c.id}`} className="text-indigo-700 hover:underline">
            {t("runs.lifecycle.continuedAs", { id: c.number, name: c.name, status: t(`runs.status.${c.status}` as MessageKey) })}
          </Link>
        </p>
      ))}
    </div>
  );
}
