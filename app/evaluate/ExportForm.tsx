"use client";
import { useActionState, useState } from "react";
import { startExport, type TaskFormState } from "./actions";
import { EXPORT_DTYPES } from "@/lib/schemas/export-config";
import { useT } from "@/lib/i18n/client";
import { ModelField, SelectField, TextField, type AdapterOption, type ModelOption } from "./fields";

export function ExportForm(props: { models: ModelOption[]; adapters: AdapterOption[]; defaults: Record<string, string>; exportRoot: string }) {
  const { models, adapters, defaults, exportRoot } = props;
  const t = useT();
  const [state, action, pending] = useActionState<TaskFormState, FormData>(startExport, { fieldErrors: {} });
  const errors = state.fieldErrors;
  const first = adapters[0];
  const [adapter, setAdapter] = useState(first ? String(first.id) : "");
  const [model, setModel] = useState(first?.modelPath ?? models[0]?.path ?? "");
  const [exportDir, setExportDir] = useState(first ? `run-${first.id}-merged` : "");
  const [values, setValues] = useState<Record<string, string>>({ ...defaults, name: "" });
  const set = (k: string) => (v: string) => setValues((x) => ({ ...x, [k]: v }));

  function chooseAdapter(id: string) {
    setAdapter(id);
    const run = adapters.find((a) => String(a.id) === id);
    if (run) {
      setModel(run.modelPath);
      setExportDir(`run-${run.id}-merged`);
    }
  }

  return (
    <form action={action} className="card grid gap-4 sm:grid-cols-2" noValidate aria-label={t("evaluate.tab.export")}>
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
      <TextField
        name="export_dir"
        label={t("evaluate.form.exportDir")}
        value={exportDir}
        onChange={setExportDir}
        error={errors.export_dir}
        help={t("evaluate.form.exportDirHelp", { root: exportRoot })}
        inputMode="text"
        mono
      />
      <TextField name="max_shard_size_mb" label={t("evaluate.form.maxShard")} value={values.max_shard_size_mb ?? ""} onChange={set("max_shard_size_mb")} error={errors.max_shard_size_mb} />
      <SelectField
        name="export_dtype"
        label={t("evaluate.form.dtype")}
        value={values.export_dtype ?? "auto"}
        onChange={set("export_dtype")}
        options={EXPORT_DTYPES.map((d) => ({ value: d, label: d === "auto" ? t("evaluate.form.dtypeAuto") : d }))}
        error={errors.export_dtype}
      />
      <TextField name="name" label={t("evaluate.form.name")} value={values.name ?? ""} onChange={set("name")} error={errors.name} inputMode="text" />
      {state.formError && (
        <p className="field-error sm:col-span-2" role="alert">
          {state.formError}
        </p>
      )}
      <div className="sm:col-span-2">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? t("evaluate.form.submitting") : t("evaluate.form.startExport")}
        </button>
      </div>
    </form>
  );
}
