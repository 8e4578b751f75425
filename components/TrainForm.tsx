"use client";
import { useActionState, useState } from "react";
import { startRun, type TrainFormState } from "@/app/train/actions";
import { COMPUTE_TYPES, FLAG_FIELDS, LORA_TARGETS, METHODS, SCHEDULERS, TEMPLATES } from "@/lib/schemas/run-config";

interface ModelOption {
  path: string;
  name: string;
  demo: boolean;
  description: string | null;
  architecture: string;
  layers: number | null;
  hiddenSize: number | null;
  preset: Record<string, unknown> | null;
}
interface DatasetOption {
  name: string;
  records: number | null;
  hasPlaceholders: boolean;
  error: string | null;
}

type Values = Record<string, string>;

type Group = "basic" | "lora" | "freeze" | "data" | "advanced";
const NUMBER_FIELDS: { name: string; label: string; help: string; group: Group }[] = [
  { name: "learning_rate", label: "Learning rate", help: "AdamW step size. Too high diverges, too low learns nothing.", group: "basic" },
  { name: "num_train_epochs", label: "Epochs", help: "Passes over the dataset.", group: "basic" },
  { name: "max_samples", label: "Max samples", help: "Records used from each dataset at most.", group: "basic" },
  { name: "cutoff_len", label: "Cutoff length", help: "Tokens per sample at most; longer samples are truncated.", group: "basic" },
  { name: "per_device_train_batch_size", label: "Batch size", help: "Samples per forward pass.", group: "basic" },
  { name: "gradient_accumulation_steps", label: "Gradient accumulation", help: "Forward passes per optimizer step.", group: "basic" },
  { name: "lora_rank", label: "LoRA rank", help: "Width of the adapter matrices.", group: "lora" },
  { name: "lora_alpha", label: "LoRA alpha", help: "Adapter scale is alpha / rank (usually 2 × rank).", group: "lora" },
  { name: "lora_dropout", label: "LoRA dropout", help: "Dropout on the adapter input, 0 to 1.", group: "lora" },
  { name: "freeze_trainable_layers", label: "Trainable layers", help: "Train the last N decoder layers; the rest stay frozen.", group: "freeze" },
  { name: "freeze_trainable_modules", label: "Trainable modules", help: "\"all\", or comma-separated names such as mlp,self_attn.", group: "freeze" },
  { name: "val_size", label: "Validation size", help: "Held-out share (0.1) or count (50) for eval loss; 0 turns evaluation off.", group: "data" },
  { name: "eval_steps", label: "Eval steps", help: "Compute eval loss every N optimizer steps.", group: "data" },
  { name: "max_steps", label: "Max steps", help: "Stop after N optimizer steps (empty: train for the epochs above).", group: "advanced" },
  { name: "warmup_steps", label: "Warmup steps", help: "Steps of linear learning-rate warmup.", group: "advanced" },
  { name: "warmup_ratio", label: "Warmup ratio", help: "Warmup as a share of all steps (used when warmup steps is 0).", group: "advanced" },
  { name: "weight_decay", label: "Weight decay", help: "AdamW decoupled weight decay (not on norms or biases).", group: "advanced" },
  { name: "resume_from_checkpoint", label: "Resume from checkpoint", help: "A checkpoint of an earlier run, e.g. run-3/checkpoint-100 (empty: start fresh).", group: "advanced" },
  { name: "max_grad_norm", label: "Max grad norm", help: "Gradient clipping threshold.", group: "advanced" },
  { name: "logging_steps", label: "Logging steps", help: "Log a loss point every N optimizer steps.", group: "advanced" },
  { name: "save_steps", label: "Save steps", help: "Write a checkpoint every N optimizer steps (0: only at the end).", group: "advanced" },
  { name: "seed", label: "Seed", help: "Same seed, same data and settings: same losses.", group: "advanced" },
];

const FLAGS: { name: (typeof FLAG_FIELDS)[number]; label: string; help: string; group: Group }[] = [
  { name: "use_rslora", label: "rsLoRA", help: "Scale by alpha/√rank: steadier at high ranks.", group: "lora" },
  { name: "use_dora", label: "DoRA", help: "Weight-decomposed LoRA (learns a magnitude per output).", group: "lora" },
  { name: "packing", label: "Packing", help: "Several samples per sequence, no attention across them.", group: "data" },
  { name: "train_on_prompt", label: "Train on prompt", help: "Also learn the user turns (usually off).", group: "data" },
  { name: "mask_history", label: "Mask history", help: "Learn only the last assistant turn of each conversation.", group: "data" },
  { name: "gradient_checkpointing", label: "Gradient checkpointing", help: "Recompute activations: less memory, ~30% slower.", group: "advanced" },
];

type Flags = Partial<Record<(typeof FLAG_FIELDS)[number], boolean>>;

function toValues(obj: Record<string, unknown>): Values {
  const out: Values = {};
  for (const [k, v] of Object.entries(obj)) if (typeof v === "number" || typeof v === "string") out[k] = String(v);
  return out;
}

function toFlags(obj: Record<string, unknown>): Flags {
  const out: Flags = {};
  for (const f of FLAG_FIELDS) if (typeof obj[f] === "boolean") out[f] = obj[f] as boolean;
  return out;
}

export function TrainForm({
  models,
  datasets,
  defaults,
  modelRoots,
}: {
  models: ModelOption[];
  datasets: DatasetOption[];
  defaults: Record<string, unknown>;
  modelRoots: string[];
}) {
  const [state, action, pending] = useActionState<TrainFormState, FormData>(startRun, { fieldErrors: {} });
  const firstModel = models[0];
  const [modelPath, setModelPath] = useState(firstModel?.path ?? "");
  const [values, setValues] = useState<Values>(() => ({ ...toValues(defaults), ...toValues(firstModel?.preset ?? {}) }));
  const [flags, setFlags] = useState<Flags>(() => ({ ...toFlags(defaults), ...toFlags(firstModel?.preset ?? {}) }));
  const method = values.finetuning_type ?? "lora";
  // Every input is controlled: React resets uncontrolled inputs after a form action, and a
  // refused submit must keep what the user typed.
  const [targetAll, setTargetAll] = useState(true);
  const [modules, setModules] = useState<string[]>(["q_proj", "v_proj"]);
  const [presetNote, setPresetNote] = useState(firstModel?.preset ? firstModel.name : null);
  const usable = datasets.filter((d) => !d.hasPlaceholders && !d.error);
  const [selected, setSelected] = useState<string[]>(usable.length > 0 ? [usable.at(-1)!.name] : []);
  const errors = state.fieldErrors;
  const model = models.find((m) => m.path === modelPath);

  function chooseModel(path: string) {
    setModelPath(path);
    const m = models.find((x) => x.path === path);
    if (m?.preset) {
      setValues((v) => ({ ...v, ...toValues(m.preset!) }));
      setFlags((f) => ({ ...f, ...toFlags(m.preset!) }));
      setPresetNote(m.name);
    } else setPresetNote(null);
  }

  const field = (f: (typeof NUMBER_FIELDS)[number]) => (
    <div key={f.name}>
      <label className="field-label" htmlFor={f.name}>
        {f.label}
      </label>
      <input
        id={f.name}
        name={f.name}
        className="field-input"
        inputMode={f.name === "freeze_trainable_modules" || f.name === "resume_from_checkpoint" ? "text" : "decimal"}
        value={values[f.name] ?? ""}
        onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
        aria-invalid={errors[f.name] ? true : undefined}
        aria-describedby={`${f.name}-help`}
      />
      {errors[f.name] ? (
        <p className="field-error" role="alert" data-testid={`error-${f.name}`}>
          {errors[f.name]}
        </p>
      ) : (
        <p id={`${f.name}-help`} className="mt-1 text-xs text-slate-500">
          {f.help}
        </p>
      )}
    </div>
  );

  const flag = (f: (typeof FLAGS)[number]) => (
    <label key={f.name} className="flex items-start gap-2 text-sm" title={f.help}>
      <input
        type="checkbox"
        name={f.name}
        className="mt-0.5"
        checked={flags[f.name] ?? false}
        onChange={(e) => setFlags((x) => ({ ...x, [f.name]: e.target.checked }))}
      />
      <span>
        {f.label}
        <span className="block text-xs text-slate-500">{f.help}</span>
      </span>
    </label>
  );
  const select = (name: string, label: string, options: readonly string[]) => (
    <div>
      <label className="field-label" htmlFor={name}>{label}</label>
      <select id={name} name={name} className="field-input" value={values[name] ?? options[0]} onChange={(e) => setValues((v) => ({ ...v, [name]: e.target.value }))}>
        {options.map((o) => <option key={o} value={o}>{o === "lora" ? "LoRA" : o}</option>)}
      </select>
      {errors[name] && <p className="field-error" role="alert" data-testid={`error-${name}`}>{errors[name]}</p>}
    </div>
  );
  const advancedError = NUMBER_FIELDS.some((f) => f.group === "advanced" && errors[f.name]) || Boolean(errors.compute_type);

  return (
    <form action={action} className="space-y-4" noValidate>
      <section className="card grid gap-4 sm:grid-cols-2">
        <div className="sm:col-span-2">
          <label className="field-label" htmlFor="model_name_or_path">
            Model
          </label>
          <div className="flex gap-2">
            <select
              id="model-picker"
              className="field-input"
              value={models.some((m) => m.path === modelPath) ? modelPath : ""}
              onChange={(e) => chooseModel(e.target.value)}
              aria-label="Model picker"
            >
              {models.map((m) => (
                <option key={m.path} value={m.path}>
                  {m.name}
                  {m.demo ? " (random-weights demo model)" : ""}
                </option>
              ))}
              <option value="">Other path…</option>
            </select>
          </div>
          <input
            id="model_name_or_path"
            name="model_name_or_path"
            className="field-input font-mono"
            value={modelPath}
            onChange={(e) => setModelPath(e.target.value)}
            aria-invalid={errors.model_name_or_path ? true : undefined}
          />
          {errors.model_name_or_path ? (
            <p className="field-error" role="alert" data-testid="error-model_name_or_path">
              {errors.model_name_or_path}
            </p>
          ) : (
            <p className="mt-1 text-xs text-slate-500">
              A Hugging Face model directory inside {modelRoots.join(", ")}.
              {model?.demo && " The demo model has random weights: it only learns what you teach it."}
              {model && ` ${model.architecture}, ${model.layers ?? "?"} layers, width ${model.hiddenSize ?? "?"}.`}
            </p>
          )}
          {presetNote && (
            <p className="mt-1 text-xs text-indigo-700" data-testid="preset-note">
              Applied the preset that ships with {presetNote} (it learns in a few CPU minutes); LLaMA-Factory defaults otherwise.
            </p>
          )}
        </div>
        <div>
          <label className="field-label" htmlFor="name">
            Run name (optional)
          </label>
          <input
            id="name"
            name="name"
            className="field-input"
            placeholder="auto"
            value={values.name ?? ""}
            onChange={(e) => setValues((v) => ({ ...v, name: e.target.value }))}
          />
        </div>
        <div className="grid grid-cols-3 gap-2">
          {select("template", "Template", TEMPLATES)}
          {select("finetuning_type", "Method", METHODS)}
          {select("lr_scheduler_type", "Scheduler", SCHEDULERS)}
        </div>
        <fieldset className="sm:col-span-2">
          <legend className="field-label">Datasets</legend>
          <div className="mt-1 flex flex-wrap gap-3">
            {datasets.map((d) => (
              <label key={d.name} className={`flex items-center gap-1.5 text-sm ${d.hasPlaceholders || d.error ? "text-slate-400" : ""}`}>
                <input
                  type="checkbox"
                  name="dataset"
                  value={d.name}
                  checked={selected.includes(d.name)}
                  onChange={(e) => setSelected((s) => (e.target.checked ? [...s, d.name] : s.filter((x) => x !== d.name)))}
                />
                {d.name} <span className="text-xs text-slate-500">({d.records ?? "?"} records{d.hasPlaceholders ? ", template: fill it first" : ""})</span>
              </label>
            ))}
          </div>
          {errors.dataset && (
            <p className="field-error" role="alert" data-testid="error-dataset">
              {errors.dataset}
            </p>
          )}
        </fieldset>
      </section>

      <section className="card">
        <h2 className="mb-3 font-semibold">Basic</h2>
        <div className="grid gap-4 sm:grid-cols-3">{NUMBER_FIELDS.filter((f) => f.group === "basic").map(field)}</div>
      </section>
      {/* Hidden, not unmounted: the other method's fields still submit their (valid) values. */}
      <section className="card" hidden={method !== "lora"}>
        <h2 className="mb-3 font-semibold">LoRA</h2>
        <div className="grid gap-4 sm:grid-cols-3">{NUMBER_FIELDS.filter((f) => f.group === "lora").map(field)}</div>
        <div className="mt-3 grid gap-3 sm:grid-cols-3">{FLAGS.filter((f) => f.group === "lora").map(flag)}</div>
        <fieldset className="mt-4">
          <legend className="field-label">Target modules</legend>
          <label className="mr-4 inline-flex items-center gap-1.5 text-sm">
            <input type="checkbox" name="lora_target_all" checked={targetAll} onChange={(e) => setTargetAll(e.target.checked)} />
            all linear layers
          </label>
          {!targetAll &&
            LORA_TARGETS.map((t) => (
              <label key={t} className="mr-3 inline-flex items-center gap-1 text-sm">
                <input
                  type="checkbox"
                  name="lora_target_module"
                  value={t}
                  checked={modules.includes(t)}
                  onChange={(e) => setModules((m) => (e.target.checked ? [...m, t] : m.filter((x) => x !== t)))}
                />
                {t}
              </label>
            ))}
          {errors.lora_target && <p className="field-error" role="alert">{errors.lora_target}</p>}
        </fieldset>
      </section>
      <section className="card" hidden={method !== "freeze"}>
        <h2 className="mb-3 font-semibold">Freeze</h2>
        <div className="grid gap-4 sm:grid-cols-3">{NUMBER_FIELDS.filter((f) => f.group === "freeze").map(field)}</div>
      </section>
      <section className="card">
        <h2 className="mb-3 font-semibold">Data</h2>
        <div className="grid gap-4 sm:grid-cols-3">{NUMBER_FIELDS.filter((f) => f.group === "data").map(field)}</div>
        <div className="mt-3 grid gap-3 sm:grid-cols-3">{FLAGS.filter((f) => f.group === "data").map(flag)}</div>
      </section>
      <details className="card" open={advancedError || undefined}>
        <summary className="cursor-pointer font-semibold">Advanced</summary>
        <div className="mt-3 grid gap-4 sm:grid-cols-3">
          {NUMBER_FIELDS.filter((f) => f.group === "advanced").map(field)}
          {select("compute_type", "Compute type", COMPUTE_TYPES)}
        </div>
        <div className="mt-3 grid gap-3 sm:grid-cols-3">{FLAGS.filter((f) => f.group === "advanced").map(flag)}</div>
      </details>

      {state.formError && <p className="field-error" role="alert">{state.formError}</p>}
      <button type="submit" className="btn btn-primary" disabled={pending}>
        {pending ? "Queuing…" : "Start"}
      </button>
    </form>
  );
}
