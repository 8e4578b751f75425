"use client";
// The Train form: every option the trainer supports, grouped basic / method / data / advanced,
// LLaMA-Factory's web-UI defaults, a one-line help per field, and beside it the memory estimate,
// saved configurations and the equivalent command. Every input is controlled: React resets
// uncontrolled inputs after a form action, and a refused Start must keep what the user typed.
import { useT } from "@/lib/i18n/client";
import { COMPUTE_TYPES, FAST_PATHS, METHODS, SCHEDULERS, TEMPLATES, type Stage } from "@/lib/schemas/run-config";
import type { Flag } from "@/lib/configs/form";
import type { CommandPaths } from "@/lib/configs/command";
import type { SavedConfigSummary } from "@/lib/configs/saved";
import { TextField } from "@/components/form/fields";
import { ModelPicker } from "./train/ModelPicker";
import { DatasetPicker } from "./train/DatasetPicker";
import { MemoryEstimate } from "./train/MemoryEstimate";
import { ShowCommand } from "./train/ShowCommand";
import { SavedConfigs } from "./train/SavedConfigs";
import { GpuSummary } from "./train/GpuSummary";
import { MethodSections } from "./train/MethodSections";
import { StageSection } from "./train/StageSection";
import { QuantizationFields } from "./train/QuantizationFields";
import { trainFields } from "./train/field-kit";
import { useTrainForm } from "./train/use-train-form";
import type { CloneInfo, DatasetOption, ModelOption, StartFrom } from "./train/types";
import { submitWithoutReset } from "@/components/form/submit-without-reset";

export type { CloneInfo, StartFrom } from "./train/types";

const BASIC = ["learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps"] as const;
// Early stopping watches the eval loss: its settings sit beside the eval split's.
const DATA = ["max_samples", "cutoff_len", "val_size", "eval_steps", "early_stopping_patience", "early_stopping_min_delta"] as const;
const DATA_FLAGS: Flag[] = ["packing", "train_on_prompt", "mask_history"];
const ADVANCED = ["max_steps", "warmup_steps", "warmup_ratio", "weight_decay", "max_grad_norm", "logging_steps", "save_steps", "seed"] as const;
const ADVANCED_FIELDS: string[] = [...ADVANCED, "gradient_checkpointing", "resume_from_checkpoint", "fast_path", "device"];

export interface TrainFormProps {
  models: ModelOption[];
  datasets: DatasetOption[];
  defaults: Record<string, unknown>;
  modelRoots: string[];
  saved: SavedConfigSummary[];
  clone: CloneInfo | null;
  command: CommandPaths;
  /** GPUs of the largest online worker (null: none online), for the GPUs field's hint. */
  maxWorkerGpus: number | null;
  /** The SFT run a preference run starts from (Continue with preference training), if any. */
  startFrom?: StartFrom | null;
}

export function TrainForm({ models, datasets, defaults, modelRoots, saved, clone, command, maxWorkerGpus, startFrom = null }: TrainFormProps) {
  const t = useT();
  const train = useTrainForm(models, datasets, defaults, clone);
  const { state, action, pending, form, setForm, presetNote, errors, setSaveErrors, formRef, set, setFlag, pickModel, loadConfig } = train;
  const v = form.values;
  const method = v.finetuning_type ?? "lora";
  const model = models.find((m) => m.path === v.model_name_or_path);
  const { field, text, flag, select } = trainFields(t, errors, form, set, setFlag);
  const hasErrors = Object.keys(errors).length > 0 || Boolean(state.formError);
  const advancedError = ADVANCED_FIELDS.some((f) => errors[f]);

  return (
    <form ref={formRef} action={action} onSubmit={submitWithoutReset(action, () => setSaveErrors(null))} className="space-y-4" noValidate>
      {clone && <CloneNote clone={clone} />}
      <div className="grid gap-4 lg:grid-cols-[minmax(0,1fr)_22rem]">
        <div className="min-w-0 space-y-4">
          <StageSection form={form} setForm={setForm} datasets={datasets} startFrom={startFrom} text={text} field={field} select={select} />
          <section className="card grid gap-4 sm:grid-cols-2" aria-label={t("train.model.label")}>
            <div className="sm:col-span-2">
              <ModelPicker
                models={models}
                modelRoots={modelRoots}
                value={v.model_name_or_path ?? ""}
                onPick={pickModel}
                onChange={set("model_name_or_path")}
                template={v.template ?? ""}
                onUseTemplate={set("template")}
                presetNote={presetNote}
                errors={errors}
              />
            </div>
            <TextField {...field("name")} value={v.name ?? ""} onChange={set("name")} inputMode="text" placeholder={t("train.field.name.placeholder")} />
            <div className="grid grid-cols-2 gap-2">
              {select("template", TEMPLATES)}
              {select("finetuning_type", METHODS, (o) => (o === "lora" ? "LoRA" : o))}
            </div>
          </section>

          <section className="card" aria-labelledby="section-basic">
            <h2 id="section-basic" className="mb-3 font-semibold">
              {t("train.section.basic")}
            </h2>
            <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-3">
              {BASIC.map((n) => text(n))}
              {select("lr_scheduler_type", SCHEDULERS)}
              {select("compute_type", COMPUTE_TYPES)}
              {text("num_gpus")}
              <QuantizationFields t={t} form={form} errors={errors} setValues={(values) => setForm((f) => ({ ...f, values: { ...f.values, ...values } }))} />
            </div>
            <GpuSummary
              batch={v.per_device_train_batch_size}
              accumulation={v.gradient_accumulation_steps}
              gpus={v.num_gpus}
              maxWorkerGpus={maxWorkerGpus}
            />
          </section>

          <MethodSections method={method} form={form} setForm={setForm} errors={errors} text={text} flag={flag} />

          <section className="card space-y-4" aria-labelledby="section-data">
            <h2 id="section-data" className="font-semibold">
              {t("train.section.data")}
            </h2>
            <DatasetPicker stage={(v.stage ?? "sft") as Stage} datasets={datasets} selected={form.datasets} onChange={(d) => setForm((f) => ({ ...f, datasets: d }))} errors={errors} />
            <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-4">{DATA.map((n) => text(n))}</div>
            <div className="grid gap-3 sm:grid-cols-3">{DATA_FLAGS.map(flag)}</div>
          </section>

          <details className="card" open={advancedError || undefined}>
            <summary className="cursor-pointer font-semibold">{t("train.section.advanced")}</summary>
            <div className="mt-3 grid gap-4 sm:grid-cols-2 xl:grid-cols-4">{ADVANCED.map((n) => text(n))}</div>
            <div className="mt-3 grid gap-4 sm:grid-cols-2">
              {text("resume_from_checkpoint", false)}
              {flag("gradient_checkpointing")}
              {select("fast_path", FAST_PATHS)}
              {text("device", false)}
            </div>
          </details>
        </div>

        <div className="min-w-0 space-y-4">
          <MemoryEstimate model={model} form={form} />
          <SavedConfigs initial={saved} form={form} onErrors={setSaveErrors} onLoad={loadConfig} />
        </div>
      </div>

      <ShowCommand form={form} paths={command} modelPath={model?.path ?? v.model_name_or_path ?? ""} />

      {hasErrors && (
        <p className="field-error text-sm" role="alert" data-testid="form-errors">
          {state.formError ?? t("train.errors.summary")}
        </p>
      )}
      <div className="flex items-center gap-3">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? t("train.starting") : t("train.start")}
        </button>
      </div>
    </form>
  );
}

/** Which run the form was prefilled from, or why it could not be. */
function CloneNote({ clone }: { clone: CloneInfo }) {
  const t = useT();
  return (
    <p className="card border-indigo-200 bg-indigo-50 text-sm text-indigo-900" role="status" data-testid="clone-note">
      {clone.config
        ? clone.dropped.length === 0
          ? t("train.cloned", { number: clone.number ?? clone.id, name: clone.name ?? "" })
          : t("train.clone.invalid", { number: clone.number ?? clone.id })
        : t("train.clone.missing", { id: clone.id })}
    </p>
  );
}
