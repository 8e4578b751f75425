"use client";
// Model: a picker over the model directories found under the roots, the path itself (editable,
// for a model elsewhere inside a root), and what was read from the directory without loading it.
import { useT } from "@/lib/i18n/client";
import { formatParams } from "@/lib/estimate/shape";
import type { FieldErrors, ModelOption } from "./types";

export function ModelPicker({
  models,
  modelRoots,
  value,
  onPick,
  onChange,
  template,
  onUseTemplate,
  presetNote,
  errors,
}: {
  models: ModelOption[];
  modelRoots: string[];
  value: string;
  onPick: (path: string) => void;
  onChange: (path: string) => void;
  template: string;
  onUseTemplate: (t: string) => void;
  presetNote: string | null;
  errors: FieldErrors;
}) {
  const t = useT();
  const model = models.find((m) => m.path === value);
  const roots = modelRoots.join(", ");
  const error = errors.model_name_or_path;
  return (
    <div className="space-y-2">
      <label className="field-label" htmlFor="model-picker">
        {t("train.model.picker")}
      </label>
      <select
        id="model-picker"
        className="field-input"
        value={model ? model.path : ""}
        onChange={(e) => onPick(e.target.value)}
      >
        {models.map((m) => (
          <option key={m.path} value={m.path}>
            {m.name}
            {m.demo ? t("train.model.demoSuffix") : ""}
          </option>
        ))}
        <option value="">{t("train.model.other")}</option>
      </select>
      <div>
        <label className="field-label" htmlFor="model_name_or_path">
          {t("train.model.label")}
        </label>
        <input
          id="model_name_or_path"
          name="model_name_or_path"
          className="field-input font-mono"
          autoComplete="off"
          spellCheck={false}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "model_name_or_path-error" : "model_name_or_path-help"}
        />
        {error ? (
          <p id="model_name_or_path-error" className="field-error" role="alert" data-testid="error-model_name_or_path">
            {error}
          </p>
        ) : (
          <p id="model_name_or_path-help" className="mt-1 text-xs text-slate-600">
            {models.length === 0 ? t("train.model.none", { roots }) : t("train.model.help", { roots })}
            {model?.demo ? ` ${t("train.model.demoNote")}` : ""}
          </p>
        )}
      </div>
      {presetNote && (
        <p className="text-xs text-indigo-800" data-testid="preset-note">
          {t("train.preset", { name: presetNote })}
        </p>
      )}
      {model && <ModelDetails model={model} template={template} onUseTemplate={onUseTemplate} />}
    </div>
  );
}

function ModelDetails({ model, template, onUseTemplate }: { model: ModelOption; template: string; onUseTemplate: (t: string) => void }) {
  const t = useT();
  const unknown = t("train.model.unknown");
  const num = (n: number | null) => (n === null ? unknown : n.toLocaleString("en"));
  const rows: [string, React.ReactNode, string][] = [
    [t("train.model.architecture"), model.architecture, "architecture"],
    [
      t("train.model.params"),
      model.parameterCount === null ? (
        unknown
      ) : (
        <>
          {formatParams(model.parameterCount)}{" "}
          <span className="text-xs text-slate-600">
            ({model.parameterCount.toLocaleString("en")},{" "}
            {t(model.parameterSource === "safetensors" ? "train.model.params.safetensors" : "train.model.params.config")})
          </span>
        </>
      ),
      "params",
    ],
    ...(model.activeParameterCount === null
      ? []
      : [[t("train.model.activeParams"), formatParams(model.activeParameterCount), "active-params"] as [string, React.ReactNode, string]]),
    [t("train.model.layers"), num(model.layers), "layers"],
    [t("train.model.hidden"), num(model.hiddenSize), "hidden"],
    [t("train.model.context"), num(model.contextLength), "context"],
    [t("train.model.vocab"), num(model.vocabSize), "vocab"],
    [t("train.model.dtype"), model.weightDtype ?? unknown, "dtype"],
  ];
  return (
    <section aria-labelledby="model-details-title" className="rounded-md border border-slate-200 bg-slate-50 p-3" data-testid="model-details">
      <h3 id="model-details-title" className="text-sm font-semibold text-slate-700">
        {t("train.model.details")}
      </h3>
      <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm sm:grid-cols-[auto_1fr_auto_1fr]">
        {rows.map(([label, value, id]) => (
          <div key={id} className="contents">
            <dt className="text-slate-600">{label}</dt>
            <dd className="min-w-0 break-words font-medium" data-testid={`model-${id}`}>
              {value}
            </dd>
          </div>
        ))}
        <dt className="text-slate-600">{t("train.model.template")}</dt>
        <dd className="flex flex-wrap items-center gap-2 font-medium" data-testid="model-template">
          {model.templateGuess}
          {model.templateGuess !== template && (
            <button type="button" className="btn btn-secondary px-2 py-0.5 text-xs" onClick={() => onUseTemplate(model.templateGuess)}>
              {t("train.model.useTemplate", { template: model.templateGuess })}
            </button>
          )}
        </dd>
      </dl>
    </section>
  );
}
