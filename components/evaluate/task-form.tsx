"use client";
// What the Evaluate and Export forms share: the controlled state (values, base model, adapter run),
// the base model + adapter run fields (choosing a run chooses the model it was trained from), and
// the form's end (job name, form error, submit).
import { useState } from "react";
import { useT } from "@/lib/i18n/client";
import type { FieldErrors } from "@/lib/jobs/create-task-job";
import { SelectField, TextField } from "@/components/form/fields";
import { ModelField, type AdapterOption, type ModelOption } from "./ModelField";

/**
 * Every input is controlled: React resets uncontrolled inputs after a form action, and a refused
 * submit must keep what the user typed. `onRun`: what else follows a chosen adapter run.
 */
export function useTaskForm(models: ModelOption[], adapters: AdapterOption[], defaults: Record<string, string>, onRun?: (run: AdapterOption) => void) {
  const first = adapters[0];
  const [adapter, setAdapter] = useState(first ? String(first.id) : "");
  const [model, setModel] = useState(first?.modelPath ?? models[0]?.path ?? "");
  const [values, setValues] = useState<Record<string, string>>({ ...defaults, name: "" });
  const set = (k: string) => (v: string) => setValues((x) => ({ ...x, [k]: v }));

  function chooseAdapter(id: string) {
    setAdapter(id);
    const run = adapters.find((a) => String(a.id) === id);
    if (run) {
      setModel(run.modelPath);
      onRun?.(run);
    }
  }
  return { adapter, chooseAdapter, model, setModel, values, set };
}

/** The base model picker and the adapter run ("none": the base model alone). */
export function BaseModelFields(props: {
  models: ModelOption[];
  adapters: AdapterOption[];
  form: Pick<ReturnType<typeof useTaskForm>, "adapter" | "chooseAdapter" | "model" | "setModel">;
  errors: FieldErrors;
}) {
  const { models, adapters, form, errors } = props;
  const t = useT();
  return (
    <>
      <ModelField
        models={models}
        value={form.model}
        onChange={form.setModel}
        error={errors.model_name_or_path}
        labels={{ model: t("evaluate.form.model"), other: t("evaluate.form.modelOther"), path: t("evaluate.form.modelPath"), demo: t("evaluate.form.demo") }}
      />
      <SelectField
        name="adapter_run"
        label={t("evaluate.form.adapter")}
        value={form.adapter}
        onChange={form.chooseAdapter}
        options={[{ value: "", label: t("evaluate.form.adapterNone") }, ...adapters.map((a) => ({ value: String(a.id), label: `#${a.number} ${a.name}` }))]}
        error={errors.adapter_run}
        help={t("evaluate.form.adapterHelp")}
      />
    </>
  );
}

/** The job name, the error that belongs to no field, and the submit button. */
export function TaskFormEnd(props: {
  form: Pick<ReturnType<typeof useTaskForm>, "values" | "set">;
  errors: FieldErrors;
  formError?: string;
  pending: boolean;
  submitLabel: string;
}) {
  const { form, errors, formError, pending, submitLabel } = props;
  const t = useT();
  return (
    <>
      <TextField name="name" label={t("evaluate.form.name")} value={form.values.name ?? ""} onChange={form.set("name")} error={errors.name} inputMode="text" />
      {formError && (
        <p className="field-error sm:col-span-2" role="alert">
          {formError}
        </p>
      )}
      <div className="sm:col-span-2">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? t("evaluate.form.submitting") : submitLabel}
        </button>
      </div>
    </>
  );
}
