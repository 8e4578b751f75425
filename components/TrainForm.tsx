"use client";
// The Train form: every option the trainer supports, grouped basic / method / data / advanced,
// LLaMA-Factory's web-UI defaults, a one-line help per field, and beside it the memory estimate,
// saved configurations and the equivalent command. Every input is controlled: React resets
// uncontrolled inputs after a form action, and a refused Start must keep what the user typed.
import { useActionState, useEffect, useRef, useState } from "react";
import { startRun, type TrainFormState } from "@/app/train/actions";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { COMPUTE_TYPES, FAST_PATHS, LORA_TARGETS, METHODS, SCHEDULERS, TEMPLATES, type RunConfig } from "@/lib/schemas/run-config";
import { applyConfig, toFlags, toValues, type Flag, type FormState, type LoraTarget } from "@/lib/configs/form";
import type { CommandPaths } from "@/lib/configs/command";
import type { SavedConfigSummary } from "@/lib/configs/saved";
import { FlagField, SelectField, TextField } from "@/components/form/fields";
import { ModelPicker } from "./train/ModelPicker";
import { DatasetPicker } from "./train/DatasetPicker";
import { MemoryEstimate } from "./train/MemoryEstimate";
import { ShowCommand } from "./train/ShowCommand";
import { SavedConfigs } from "./train/SavedConfigs";
import { GpuSummary } from "./train/GpuSummary";
import type { CloneInfo, DatasetOption, FieldErrors, ModelOption } from "./train/types";

export type { CloneInfo } from "./train/types";

const BASIC = ["learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps"] as const;
const LORA = ["lora_rank", "lora_alpha", "lora_dropout"] as const;
const LORA_FLAGS: Flag[] = ["use_rslora", "use_dora"];
const DATA = ["max_samples", "cutoff_len", "val_size", "eval_steps"] as const;
const DATA_FLAGS: Flag[] = ["packing", "train_on_prompt", "mask_history"];
const ADVANCED = ["max_steps", "warmup_steps", "warmup_ratio", "weight_decay", "max_grad_norm", "logging_steps", "save_steps", "seed"] as const;
const ADVANCED_FIELDS: string[] = [...ADVANCED, "gradient_checkpointing", "resume_from_checkpoint", "fast_path", "device"];

function initialState(models: ModelOption[], datasets: DatasetOption[], defaults: Record<string, unknown>, clone: CloneInfo | null): FormState {
  const first = models[0];
  const usable = datasets.filter((d) => !d.hasPlaceholders && !d.error);
  const base: FormState = {
    values: {
      ...toValues(defaults),
      ...toValues(first?.preset ?? {}),
      name: "",
      model_name_or_path: first?.path ?? "",
      ...(first ? { template: first.templateGuess } : {}),
    },
    flags: { ...(toFlags(defaults) as Record<Flag, boolean>), ...toFlags(first?.preset ?? {}) },
    targetAll: (first?.preset?.lora_target ?? defaults.lora_target ?? "all") === "all",
    modules: ["q_proj", "v_proj"],
    datasets: usable.length > 0 ? [usable.at(-1)!.name] : [],
  };
  return clone?.config ? applyConfig(base, clone.config) : base;
}

export function TrainForm({
  models,
  datasets,
  defaults,
  modelRoots,
  saved,
  clone,
  command,
  maxWorkerGpus,
}: {
  models: ModelOption[];
  datasets: DatasetOption[];
  defaults: Record<string, unknown>;
  modelRoots: string[];
  saved: SavedConfigSummary[];
  clone: CloneInfo | null;
  command: CommandPaths;
  /** GPUs of the largest online worker (null: none online), for the GPUs field's hint. */
  maxWorkerGpus: number | null;
}) {
  const t = useT();
  const [state, action, pending] = useActionState<TrainFormState, FormData>(startRun, { fieldErrors: {} });
  const [form, setForm] = useState<FormState>(() => initialState(models, datasets, defaults, clone));
  const [presetNote, setPresetNote] = useState(() => (!clone?.config && models[0]?.preset ? models[0].name : null));
  // Errors from the last Start, or from the last Save (which validates the same way).
  const [saveErrors, setSaveErrors] = useState<FieldErrors | null>(null);
  const errors: FieldErrors = saveErrors ?? state.fieldErrors;
  const v = form.values;
  const method = v.finetuning_type ?? "lora";
  const model = models.find((m) => m.path === v.model_name_or_path);
  const formRef = useRef<HTMLFormElement>(null);

  // After a refused Start, move focus to the first field that needs fixing (keyboard users).
  useEffect(() => {
    if (Object.keys(state.fieldErrors).length === 0) return;
    formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [state]);

  const set = (name: string) => (value: string) => setForm((f) => ({ ...f, values: { ...f.values, [name]: value } }));
  const setFlag = (name: Flag) => (value: boolean) => setForm((f) => ({ ...f, flags: { ...f.flags, [name]: value } }));

  function pickModel(path: string) {
    const m = models.find((x) => x.path === path);
    setForm((f) => ({
      ...f,
      values: { ...f.values, model_name_or_path: path, ...(m ? { template: m.templateGuess } : {}), ...toValues(m?.preset ?? {}) },
      flags: { ...f.flags, ...toFlags(m?.preset ?? {}) },
      targetAll: m?.preset?.lora_target !== undefined ? m.preset.lora_target === "all" : f.targetAll,
    }));
    setPresetNote(m?.preset ? m.name : null);
  }

  function loadConfig(cfg: Partial<RunConfig>) {
    setForm((f) => applyConfig(f, cfg));
    setPresetNote(null);
    setSaveErrors(null);
  }

  // Every run-config field's label and help live under train.field.<name> in the messages.
  const field = (name: string) => ({
    name,
    label: t(`train.field.${name}.label` as MessageKey),
    help: t(`train.field.${name}.help` as MessageKey),
    error: errors[name],
  });
  const text = (name: string, numeric = true) => (
    <TextField key={name} {...field(name)} value={v[name] ?? ""} onChange={set(name)} inputMode={numeric ? "decimal" : "text"} />
  );
  const flag = (name: Flag) => <FlagField key={name} {...field(name)} checked={form.flags[name] ?? false} onChange={setFlag(name)} />;
  const select = (name: string, options: readonly string[], label: (o: string) => string = (o) => o) => (
    <SelectField {...field(name)} value={v[name] ?? options[0]} onChange={set(name)} options={options.map((o) => ({ value: o, label: label(o) }))} />
  );
  const hasErrors = Object.keys(errors).length > 0 || Boolean(state.formError);
  const advancedError = ADVANCED_FIELDS.some((f) => errors[f]);

  return (
    <form ref={formRef} action={action} onSubmit={() => setSaveErrors(null)} className="space-y-4" noValidate>
      {clone && (
        <p className="card border-indigo-200 bg-indigo-50 text-sm text-indigo-900" role="status" data-testid="clone-note">
          {clone.config
            ? clone.dropped.length === 0
              ? t("train.cloned", { id: clone.id, name: clone.name ?? "" })
              : t("train.clone.invalid", { id: clone.id })
            : t("train.clone.missing", { id: clone.id })}
        </p>
      )}
      <div className="grid gap-4 lg:grid-cols-[minmax(0,1fr)_22rem]">
        <div className="min-w-0 space-y-4">
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
            </div>
            <GpuSummary
              batch={v.per_device_train_batch_size}
              accumulation={v.gradient_accumulation_steps}
              gpus={v.num_gpus}
              maxWorkerGpus={maxWorkerGpus}
            />
          </section>

          {/* Hidden, not unmounted: the other method's fields still submit their (valid) values. */}
          <section className="card" hidden={method !== "lora"} aria-labelledby="section-lora">
            <h2 id="section-lora" className="mb-3 font-semibold">
              {t("train.section.lora")}
            </h2>
            <div className="grid gap-4 sm:grid-cols-3">{LORA.map((n) => text(n))}</div>
            <div className="mt-3 grid gap-3 sm:grid-cols-2">{LORA_FLAGS.map(flag)}</div>
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
                      <input
                        type="checkbox"
                        name="lora_target_module"
                        value={m}
                        checked={form.modules.includes(m)}
                        onChange={(e) =>
                          setForm((f) => ({
                            ...f,
                            modules: e.target.checked ? [...f.modules, m] : f.modules.filter((x): x is LoraTarget => x !== m),
                          }))
                        }
                      />
                      {m}
                    </label>
                  ))}
              </div>
              {errors.lora_target && (
                <p className="field-error" role="alert" data-testid="error-lora_target">
                  {errors.lora_target}
                </p>
              )}
            </fieldset>
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

          <section className="card space-y-4" aria-labelledby="section-data">
            <h2 id="section-data" className="font-semibold">
              {t("train.section.data")}
            </h2>
            <DatasetPicker datasets={datasets} selected={form.datasets} onChange={(d) => setForm((f) => ({ ...f, datasets: d }))} errors={errors} />
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
