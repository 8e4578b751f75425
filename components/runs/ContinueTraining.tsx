"use client";
// Continue training, on a succeeded run: asks how many more epochs and queues a new run that starts
// from this run's final state (app/runs/[id]/actions.ts → lib/jobs/continued-run.ts).
import { useActionState, useState } from "react";
import { continueRunAction, type ContinueFormState } from "@/app/runs/[id]/actions";
import { TextField } from "@/components/form/fields";
import { useT } from "@/lib/i18n/client";

export function ContinueTraining({ runId }: { runId: number }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const [epochs, setEpochs] = useState("1");
  const [state, action, pending] = useActionState<ContinueFormState, FormData>(continueRunAction.bind(null, runId), {});
  if (!open) {
    return (
      <button type="button" className="btn btn-secondary" onClick={() => setOpen(true)} data-testid="continue-training">
        {t("runs.lifecycle.continue")}
      </button>
    );
  }
  return (
    <form action={action} className="card w-full max-w-md space-y-3" data-testid="continue-form" noValidate>
      <p className="text-sm text-slate-700">{t("runs.lifecycle.continueHelp")}</p>
      <TextField
        name="num_train_epochs"
        label={t("runs.lifecycle.continueEpochs")}
        value={epochs}
        onChange={setEpochs}
        error={state.epochsError}
      />
      {state.formError && (
        <p className="field-error text-sm" role="alert" data-testid="continue-error">
          {state.formError}
        </p>
      )}
      <div className="flex gap-2">
        <button type="submit" className="btn btn-primary" disabled={pending} data-testid="continue-submit">
          {t("runs.lifecycle.continueSubmit")}
        </button>
        <button type="button" className="btn btn-secondary" onClick={() => setOpen(false)}>
          {t("runs.lifecycle.continueCancel")}
        </button>
      </div>
    </form>
  );
}
