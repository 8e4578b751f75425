"use client";
import { useActionState, useState } from "react";
import { startEval, type TaskFormState } from "./actions";
import { TEMPLATES } from "@/lib/schemas/run-config";
import { useT } from "@/lib/i18n/client";
import { FieldError, ModelField, SelectField, TextField, type AdapterOption, type ModelOption } from "./fields";

interface DatasetOption {
  name: string;
  records: number | null;
  usable: boolean;
}

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
  // Every input is controlled: React resets uncontrolled inputs after a form action, and a
  // refused submit must keep what the user typed.
  const [adapter, setAdapter] = useState(adapters[0] ? String(adapters[0].id) : "");
  const [model, setModel] = useState(adapters[0]?.modelPath ?? models[0]?.path ?? "");
  const [values, setValues] = useState<Record<string, string>>({ ...defaults, name: "" });
  const [predict, setPredict] = useState(true);
  const [doSample, setDoSample] = useState(false);
  const usable = datasets.filter((d) => d.usable);
  const [selected, setSelected] = useState<string[]>(usable[0] ? [usable[0].name] : []);
  const set = (k: string) => (v: string) => setValues((x) => ({ ...x, [k]: v }));

  function chooseAdapter(id: string) {
    setAdapter(id);
    const run = adapters.find((a) => String(a.id) === id);
    if (run) setModel(run.modelPath);
  }

  return (
    <form action={action} className="card grid gap-4 sm:grid-cols-2" noValidate aria-label={t("evaluate.tab.eval")}>
      <ModelField
        models={models}
        value={model}
        onChange={setModel}
        error={errors.model_name_or_path}
        labels={{ model: t("evaluate.form.model"), other: t("evaluate.form.modelOther"), path: t("evaluate.form.modelPath"), demo: t("evaluate.form.demo") }}
      />
      <SelectField
        name="adapter_run"
        label={t("evaluate.form.adapter")}
        value={adapter}
        onChange={chooseAdapter}
        options={[{ value: "", label: t("evaluate.form.adapterNone") }, ...adapters.map((a) => ({ value: String(a.id), label: `#${a.id} ${a.name}` }))]}
        error={errors.adapter_run}
        help={t("evaluate.form.adapterHelp")}
      />
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
                disabled={!d.usable}
                checked={selected.includes(d.name)}
                onChange={(e) => setSelected((s) => (e.target.checked ? [...s, d.name] : s.filter((x) => x !== d.name)))}
              />
              {d.name}
              {d.records !== null && <span className="text-xs text-slate-500">({t("evaluate.form.records", { n: d.records })})</span>}
            </label>
          ))}
        </div>
        <FieldError name="dataset" error={errors.dataset} />
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
      <TextField name="name" label={t("evaluate.form.name")} value={values.name ?? ""} onChange={set("name")} error={errors.name} inputMode="text" />
      {state.formError && (
        <p className="field-error sm:col-span-2" role="alert">
          {state.formError}
        </p>
      )}
      <div className="sm:col-span-2">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? t("evaluate.form.submitting") : t("evaluate.form.startEval")}
        </button>
      </div>
    </form>
  );
}
