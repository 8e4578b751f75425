"use client";
// The method's own settings: LoRA (rank, alpha, dropout, rsLoRA/DoRA, target modules), freeze
// (trainable layers and modules) and full. Hidden, not unmounted: the other method's fields still
// submit their (valid) values.
import type { Dispatch, ReactNode, SetStateAction } from "react";
import { useT } from "@/lib/i18n/client";
import { LORA_TARGETS } from "@/lib/schemas/run-config";
import type { Flag, FormState, LoraTarget } from "@/lib/configs/form";
import type { FieldErrors } from "./types";

const LORA = ["lora_rank", "lora_alpha", "lora_dropout"] as const;
const LORA_FLAGS: Flag[] = ["use_rslora", "use_dora"];

export function MethodSections(props: {
  method: string;
  form: FormState;
  setForm: Dispatch<SetStateAction<FormState>>;
  errors: FieldErrors;
  text: (name: string, numeric?: boolean) => ReactNode;
  flag: (name: Flag) => ReactNode;
}) {
  const { method, text, flag } = props;
  const t = useT();
  return (
    <>
      <section className="card" hidden={method !== "lora"} aria-labelledby="section-lora">
        <h2 id="section-lora" className="mb-3 font-semibold">
          {t("train.section.lora")}
        </h2>
        <div className="grid gap-4 sm:grid-cols-3">{LORA.map((n) => text(n))}</div>
        <div className="mt-3 grid gap-3 sm:grid-cols-2">{LORA_FLAGS.map(flag)}</div>
        <LoraTargets form={props.form} setForm={props.setForm} error={props.errors.lora_target} />
      </section>
      <section className="card" hidden={method !== "freeze"} aria-labelledby="section-freeze">
        <h2 id="section-freeze" className="mb-3 font-semibold">
          {t("train.section.freeze")}
        </h2>
        <div className="grid gap-4 sm:grid-cols-2">
          {text("freeze_trainable_layers")}
          {text("freeze_trainable_modules", false)}
        </div>
      </section>
      <section className="card" hidden={method !== "full"} aria-labelledby="section-full">
        <h2 id="section-full" className="font-semibold">
          {t("train.section.full")}
        </h2>
        <p className="mt-1 text-sm text-slate-600">{t("train.section.full.note")}</p>
      </section>
    </>
  );
}

function LoraTargets({ form, setForm, error }: { form: FormState; setForm: Dispatch<SetStateAction<FormState>>; error?: string }) {
  const t = useT();
  const toggle = (m: LoraTarget, on: boolean) =>
    setForm((f) => ({ ...f, modules: on ? [...f.modules, m] : f.modules.filter((x): x is LoraTarget => x !== m) }));
  return (
    <fieldset className="mt-4" aria-describedby="lora_target-help">
      <legend className="field-label">{t("train.target.legend")}</legend>
      <p id="lora_target-help" className="text-xs text-slate-600">
        {t("train.field.lora_target.help")}
      </p>
      <div className="mt-1 flex flex-wrap gap-x-4 gap-y-1">
        <label className="inline-flex items-center gap-1.5 text-sm">
          <input
            type="checkbox"
            name="lora_target_all"
            checked={form.targetAll}
            onChange={(e) => setForm((f) => ({ ...f, targetAll: e.target.checked }))}
          />
          {t("train.target.all")}
        </label>
        {!form.targetAll &&
          LORA_TARGETS.map((m) => (
            <label key={m} className="inline-flex items-center gap-1 font-mono text-sm">
              <input type="checkbox" name="lora_target_module" value={m} checked={form.modules.includes(m)} onChange={(e) => toggle(m, e.target.checked)} />
              {m}
            </label>
          ))}
      </div>
      {error && (
        <p className="field-error" role="alert" data-testid="error-lora_target">
          {error}
        </p>
      )}
    </fieldset>
  );
}
