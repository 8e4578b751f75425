"use client";
import { useActionState, useState } from "react";
import { startExport, type TaskFormState } from "@/app/evaluate/actions";
import { EXPORT_DTYPES } from "@/lib/schemas/export-config";
import { useT } from "@/lib/i18n/client";
import { SelectField, TextField } from "@/components/form/fields";
import type { AdapterOption, ModelOption } from "./ModelField";
import { BaseModelFields, TaskFormEnd, useTaskForm } from "./task-form";

export function ExportForm(props: { models: ModelOption[]; adapters: AdapterOption[]; defaults: Record<string, string>; exportRoot: string }) {
  const { models, adapters, defaults, exportRoot } = props;
  const t = useT();
  const [state, action, pending] = useActionState<TaskFormState, FormData>(startExport, { fieldErrors: {} });
  const errors = state.fieldErrors;
  const first = adapters[0];
  // Choosing an adapter run proposes a folder named after it.
  const [exportDir, setExportDir] = useState(first ? `run-${first.id}-merged` : "");
  const form = useTaskForm(models, adapters, defaults, (run) => setExportDir(`run-${run.id}-merged`));
  const { values, set } = form;

  return (
    <form action={action} className="card grid gap-4 sm:grid-cols-2" noValidate aria-label={t("evaluate.tab.export")}>
      <BaseModelFields models={models} adapters={adapters} form={form} errors={errors} />
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
      <TaskFormEnd form={form} errors={errors} formError={state.formError} pending={pending} submitLabel={t("evaluate.form.startExport")} />
    </form>
  );
}
