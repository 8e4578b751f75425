"use client";
import { useActionState, useState } from "react";
import { startExport, type TaskFormState } from "@/app/evaluate/actions";
import { useT } from "@/lib/i18n/client";
import { TextField } from "@/components/form/fields";
import type { AdapterOption, ModelOption } from "./ModelField";
import { ExportFormatFields } from "./ExportFormatFields";
import { BaseModelFields, TaskFormEnd, useTaskForm } from "./task-form";
import { submitWithoutReset } from "@/components/form/submit-without-reset";

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
    <form action={action} onSubmit={submitWithoutReset(action)} className="card grid gap-4 sm:grid-cols-2" noValidate aria-label={t("evaluate.tab.export")}>
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
      <ExportFormatFields values={values} set={set} errors={errors} />
      <TaskFormEnd form={form} errors={errors} formError={state.formError} pending={pending} submitLabel={t("evaluate.form.startExport")} />
    </form>
  );
}
