"use client";
// Warns when a dataset is too small for the training plan; the rule is in lib/datasets/epochs.ts
// and repeated in the help text so the user knows what is being counted.
import { useState } from "react";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { adviseEpochs, MAX_EPOCHS_SMALL, MIN_STEPS, SMALL_DATASET, type EpochWarning } from "@/lib/datasets/epochs";

const WARNING: Record<EpochWarning, MessageKey> = {
  few_steps: "datasets.epochs.fewSteps",
  below_batch: "datasets.epochs.belowBatch",
  memorise: "datasets.epochs.memorise",
};

export function EpochAdvice({ records }: { records: number }) {
  const t = useT();
  // LLaMA-Factory's web-UI defaults: 3 epochs, batch 2, gradient accumulation 8.
  const [epochs, setEpochs] = useState("3");
  const [batch, setBatch] = useState("2");
  const [accum, setAccum] = useState("8");
  const advice = adviseEpochs({ records, epochs: Number(epochs), batchSize: Number(batch), gradAccum: Number(accum) });
  const input = (id: string, label: MessageKey, value: string, set: (v: string) => void, step = "1") => (
    <div>
      <label className="field-label" htmlFor={id}>{t(label)}</label>
      <input id={id} type="number" min={step === "1" ? 1 : 0.1} step={step} className="field-input w-28" value={value} onChange={(e) => set(e.target.value)} />
    </div>
  );
  return (
    <section className="card space-y-2" aria-labelledby="epochs-title" data-testid="epoch-advice">
      <h2 id="epochs-title" className="font-semibold">{t("datasets.epochs.title")}</h2>
      <div className="flex flex-wrap gap-3">
        {input("plan-epochs", "datasets.epochs.epochs", epochs, setEpochs, "0.1")}
        {input("plan-batch", "datasets.epochs.batch", batch, setBatch)}
        {input("plan-accum", "datasets.epochs.accum", accum, setAccum)}
      </div>
      <p className="text-xs text-slate-500">{t("datasets.epochs.help", { min: MIN_STEPS, small: SMALL_DATASET, maxEpochs: MAX_EPOCHS_SMALL })}</p>
      {advice === null ? (
        <p className="text-sm text-slate-600">{t("datasets.epochs.invalid")}</p>
      ) : (
        <>
          <p className="text-sm" data-testid="epoch-steps">
            {t("datasets.epochs.steps", { records, effective: advice.effectiveBatch, perEpoch: advice.stepsPerEpoch, total: advice.totalSteps })}
          </p>
          {advice.warnings.map((w) => (
            <p key={w} className="rounded bg-amber-50 p-2 text-sm text-amber-900" role="status" data-testid={`epoch-warning-${w}`}>
              {t(WARNING[w], { records, total: advice.totalSteps, effective: advice.effectiveBatch, epochs })}
            </p>
          ))}
        </>
      )}
    </section>
  );
}
