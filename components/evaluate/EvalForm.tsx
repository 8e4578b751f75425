"use client";
import { useActionState, useState } from "react";
import { startEval, type TaskFormState } from "@/app/evaluate/actions";
import { TEMPLATES } from "@/lib/schemas/run-config";
import { datasetNote, defaultDatasetSelection, isSelectableDataset, type DatasetChoiceInput } from "@/lib/datasets/choice";
import { useT } from "@/lib/i18n/client";
import { FieldHelp, SelectField, TextField } from "@/components/form/fields";
import type { AdapterOption, ModelOption } from "./ModelField";
import { BaseModelFields, TaskFormEnd, useTaskForm } from "./task-form";
import { submitWithoutReset } from "@/components/form/submit-without-reset";

type DatasetOption = DatasetChoiceInput;

const NUMBERS = [
  ["cutoff_len", "evaluate.form.cutoff"],
  ["max_samples", "evaluate.form.maxSamples"],
  ["batch_size", "evaluate.form.batch"],
  ["max_new_tokens", "evaluate.form.maxNewTokens"],
  ["temperature", "evaluate.form.temperature"],
  ["top_p", "evaluate.form.topP"],
  ["seed", "evaluate.form.seed"],
] as const;

export function EvalForm(props: {
  models: ModelOption[];
  adapters: AdapterOption[];
  datasets: DatasetOption[];
  defaults: Record<string, string>;
}) {
  const { models, adapters, datasets, defaults } = props;
  const t = useT();
  const [state, action, pending] = useActionState<TaskFormState, FormData>(startEval, { fieldErrors: {} });
  const errors = state.fieldErrors;
  // Every input is controlled (useTaskForm says why).
  const form = useTaskForm(models, adapters, defaults);
  const { values, set } = form;
  const [predict, setPredict] = useState(true);
  const [doSample, setDoSample] = useState(false);
  const [selected, setSelected] = useState<string[]>(() => defaultDatasetSelection(datasets));

  return (
    <form action={action} onSubmit={submitWithoutReset(action)} className="card grid gap-4 sm:grid-cols-2" noValidate aria-label={t("evaluate.tab.eval")}>
      <BaseModelFields models={models} adapters={adapters} form={form} errors={errors} />
      <SelectField
        name="template"
        label={t("evaluate.form.template")}
        value={values.template ?? "llama3"}
        onChange={set("template")}
        options={TEMPLATES.map((x) => ({ value: x, label: x }))}
        error={errors.template}
      />
      <fieldset className="sm:col-span-2">
        <legend className="field-label">{t("evaluate.form.datasets")}</legend>
        <div className="mt-1 flex flex-wrap gap-3">
          {datasets.map((d) => (
            <label key={d.name} className="flex items-center gap-1.5 text-sm" data-testid={`eval-dataset-${d.name}`}>
              <input
                type="checkbox"
                name="dataset"
                value={d.name}
                disabled={!isSelectableDataset(d)}
                checked={selected.includes(d.name)}
                onChange={(e) => setSelected((s) => (e.target.checked ? [...s, d.name] : s.filter((x) => x !== d.name)))}
              />
              {d.name}
              <span className="text-xs text-slate-500">({datasetNote(d, t)})</span>
            </label>
          ))}
        </div>
        <FieldHelp name="dataset" error={errors.dataset} />
      </fieldset>
      {NUMBERS.map(([name, label]) => (
        <TextField key={name} name={name} label={t(label)} value={values[name] ?? ""} onChange={set(name)} error={errors[name]} />
      ))}
      <div className="flex flex-col gap-2 text-sm">
        <label className="flex items-center gap-2">
          <input type="checkbox" name="predict" checked={predict} onChange={(e) => setPredict(e.target.checked)} />
          {t("evaluate.form.predict")}
        </label>
        <label className="flex items-center gap-2">
          <input type="checkbox" name="do_sample" checked={doSample} onChange={(e) => setDoSample(e.target.checked)} />
          {t("evaluate.form.doSample")}
        </label>
      </div>
      <TaskFormEnd form={form} errors={errors} formError={state.formError} pending={pending} submitLabel={t("evaluate.form.startEval")} />
    </form>
  );
}
