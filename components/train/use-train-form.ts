"use client";
// The Train form's state: controlled values and flags (a refused Start keeps what the user typed),
// the model pick that applies the model's preset, loading a saved configuration, and the errors
// of the last Start or Save.
import { useActionState, useEffect, useRef, useState } from "react";
import { startRun, type TrainFormState } from "@/app/train/actions";
import type { RunConfig, Stage } from "@/lib/schemas/run-config";
import { stageSelection } from "@/lib/datasets/stage-choice";
import { applyConfig, toFlags, toValues, type Flag, type FormState } from "@/lib/configs/form";
import { defaultDatasetSelection } from "@/lib/datasets/choice";
import type { CloneInfo, DatasetOption, FieldErrors, ModelOption } from "./types";

function initialState(models: ModelOption[], datasets: DatasetOption[], defaults: Record<string, unknown>, clone: CloneInfo | null): FormState {
  const first = models[0];
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
    datasets: defaultDatasetSelection(datasets),
  };
  if (!clone?.config) return base;
  const state = applyConfig(base, clone.config);
  // A prefill without datasets (Continue with preference training): the newest data that fits its stage.
  return clone.config.dataset ? state : { ...state, datasets: stageSelection(datasets, [], (state.values.stage ?? "sft") as Stage) };
}

export function useTrainForm(models: ModelOption[], datasets: DatasetOption[], defaults: Record<string, unknown>, clone: CloneInfo | null) {
  const [state, action, pending] = useActionState<TrainFormState, FormData>(startRun, { fieldErrors: {} });
  const [form, setForm] = useState<FormState>(() => initialState(models, datasets, defaults, clone));
  const [presetNote, setPresetNote] = useState(() => (!clone?.config && models[0]?.preset ? models[0].name : null));
  // Errors from the last Start, or from the last Save (which validates the same way).
  const [saveErrors, setSaveErrors] = useState<FieldErrors | null>(null);
  const errors: FieldErrors = saveErrors ?? state.fieldErrors;
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

  return { state, action, pending, form, setForm, presetNote, errors, setSaveErrors, formRef, set, setFlag, pickModel, loadConfig };
}
