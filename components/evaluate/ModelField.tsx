"use client";
// The model picker of the Evaluate and Export forms (models under the roots, or any path typed
// in), and the options both forms are given.
import { FieldHelp } from "@/components/form/fields";

export interface ModelOption {
  path: string;
  name: string;
  demo: boolean;
}
export interface AdapterOption {
  id: number;
  /** The run's number among runs, shown instead of its id. */
  number: number;
  name: string;
  modelPath: string;
}

/** The model picker (models under the roots, or any path typed in) as one controlled field. */
export function ModelField(props: {
  models: ModelOption[];
  value: string;
  onChange: (v: string) => void;
  error?: string;
  labels: { model: string; other: string; path: string; demo: string };
}) {
  const { models, value, onChange, error, labels } = props;
  return (
    <div className="sm:col-span-2">
      <label className="field-label" htmlFor="model-picker">
        {labels.model}
      </label>
      <select id="model-picker" className="field-input" value={models.some((m) => m.path === value) ? value : ""} onChange={(e) => onChange(e.target.value)}>
        {models.map((m) => (
          <option key={m.path} value={m.path}>
            {m.name}
            {m.demo ? ` ${labels.demo}` : ""}
          </option>
        ))}
        <option value="">{labels.other}</option>
      </select>
      <label className="sr-only" htmlFor="model_name_or_path">
        {labels.path}
      </label>
      <input
        id="model_name_or_path"
        name="model_name_or_path"
        className="field-input font-mono"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? "model_name_or_path-error" : undefined}
      />
      <FieldHelp name="model_name_or_path" error={error} />
    </div>
  );
}
