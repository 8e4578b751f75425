"use client";
// Small controlled form pieces shared by the Evaluate and Export forms: a label on every input,
// the error (from the server action) under the field that caused it.
import type { ReactNode } from "react";

export interface ModelOption {
  path: string;
  name: string;
  demo: boolean;
}
export interface AdapterOption {
  id: number;
  name: string;
  modelPath: string;
}

export function FieldError({ name, error, help }: { name: string; error?: string; help?: ReactNode }) {
  if (error)
    return (
      <p className="field-error" role="alert" data-testid={`error-${name}`}>
        {error}
      </p>
    );
  return help ? <p id={`${name}-help`} className="mt-1 text-xs text-slate-500">{help}</p> : null;
}

export function TextField(props: {
  name: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  help?: ReactNode;
  inputMode?: "decimal" | "numeric" | "text";
  mono?: boolean;
}) {
  const { name, label, value, onChange, error, help, inputMode = "decimal", mono } = props;
  return (
    <div>
      <label className="field-label" htmlFor={name}>
        {label}
      </label>
      <input
        id={name}
        name={name}
        className={`field-input${mono ? " font-mono" : ""}`}
        inputMode={inputMode}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={help && !error ? `${name}-help` : undefined}
      />
      <FieldError name={name} error={error} help={help} />
    </div>
  );
}

export function SelectField(props: {
  name: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
  error?: string;
  help?: ReactNode;
}) {
  const { name, label, value, onChange, options, error, help } = props;
  return (
    <div>
      <label className="field-label" htmlFor={name}>
        {label}
      </label>
      <select
        id={name}
        name={name}
        className="field-input"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={help && !error ? `${name}-help` : undefined}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldError name={name} error={error} help={help} />
    </div>
  );
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
      />
      <FieldError name="model_name_or_path" error={error} />
    </div>
  );
}
