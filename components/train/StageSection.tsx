"use client";
// The stage, first in the form as in LlamaBoard (Pre-Training, Supervised Fine-Tuning, Reward
// Modeling, DPO, KTO; PPO is not offered), and the RLHF group of the preference stages: the loss,
// beta, the SFT weight, SimPO's gamma, KTO's weights, and which model is the reference. Fields of
// other stages are hidden, not unmounted: they still submit their (valid) values. Switching the
// stage keeps the selected datasets that fit it, else ticks the newest one that does.
import type { Dispatch, ReactNode, SetStateAction } from "react";
import { useT } from "@/lib/i18n/client";
import { PREF_LOSSES, STAGES, needsReference, type Stage } from "@/lib/schemas/run-config";
import type { FormState } from "@/lib/configs/form";
import { SelectField } from "@/components/form/fields";
import type { DatasetOption, StartFrom } from "./types";
import { stageSelection } from "@/lib/datasets/stage-choice";

// LlamaBoard's names for the stages (its Train tab's first select).
const STAGE_LABELS: Record<Stage, string> = {
  pt: "Pre-Training",
  sft: "Supervised Fine-Tuning",
  rm: "Reward Modeling",
  dpo: "DPO",
  kto: "KTO",
};

export function StageSection(props: {
  form: FormState;
  setForm: Dispatch<SetStateAction<FormState>>;
  datasets: DatasetOption[];
  startFrom: StartFrom | null;
  text: (name: string, numeric?: boolean) => ReactNode;
  field: (name: string) => { name: string; label: string; help: string; error?: string };
  select: (name: string, options: readonly string[], label?: (o: string) => string) => ReactNode;
}) {
  const { form, setForm, datasets, startFrom, text } = props;
  const t = useT();
  const v = form.values;
  const stage = (v.stage ?? "sft") as Stage;
  const prefLoss = (v.pref_loss ?? "sigmoid") as (typeof PREF_LOSSES)[number];
  const preference = stage === "dpo" || stage === "kto";
  const continued = v.continue_from_run ? Number(v.continue_from_run) : null;

  const pickStage = (next: string) =>
    setForm((f) => ({ ...f, values: { ...f.values, stage: next }, datasets: stageSelection(datasets, f.datasets, next as Stage) }));

  return (
    <section className="card space-y-4" aria-labelledby="section-stage">
      <h2 id="section-stage" className="font-semibold">
        {t("train.section.stage")}
      </h2>
      <div className="grid gap-4 sm:grid-cols-2">
        <SelectField {...props.field("stage")} value={stage} onChange={pickStage} options={STAGES.map((s) => ({ value: s, label: STAGE_LABELS[s] }))} />
      </div>
      {continued !== null && (
        <p className="text-sm text-slate-700" data-testid="start-from">
          <input type="hidden" name="continue_from_run" value={String(continued)} />
          {t("train.stage.startFrom", { number: startFrom?.id === continued ? startFrom.number : continued })}{" "}
          <button
            type="button"
            className="underline"
            onClick={() => setForm((f) => ({ ...f, values: { ...f.values, continue_from_run: "" } }))}
          >
            {t("train.stage.startFresh")}
          </button>
        </p>
      )}
      <fieldset className="space-y-3" hidden={!preference} aria-labelledby="section-rlhf" data-testid="rlhf-group">
        <legend id="section-rlhf" className="font-medium">
          {t("train.section.rlhf")}
        </legend>
        <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-3">
          <div hidden={stage !== "dpo"}>{props.select("pref_loss", PREF_LOSSES)}</div>
          {text("pref_beta")}
          <div hidden={stage !== "dpo" || prefLoss === "orpo"}>{text("pref_ftx")}</div>
          <div hidden={stage !== "dpo" || prefLoss !== "simpo"}>{text("simpo_gamma")}</div>
          <div hidden={stage !== "kto"}>{text("kto_chosen_weight")}</div>
          <div hidden={stage !== "kto"}>{text("kto_rejected_weight")}</div>
        </div>
        <p className="text-sm text-slate-700" data-testid="reference-model">
          {!needsReference({ stage, pref_loss: prefLoss })
            ? t("runs.stage.referenceNone", { loss: prefLoss })
            : continued !== null
              ? t("runs.stage.referenceSft", { number: startFrom?.id === continued ? startFrom.number : continued })
              : t("runs.stage.referenceBase")}
        </p>
      </fieldset>
    </section>
  );
}
