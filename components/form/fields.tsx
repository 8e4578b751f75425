"use client";
// The field kit of every form (Train, Evaluate, Export): one labelled control with its one-line
// help, or the error from the server action in place of the help. The error is announced
// (role=alert), tied to the control with aria-describedby, and found by tests as error-<name>.
import type { ReactNode } from "react";

interface FieldProps {
  name: string;
  label: ReactNode;
  error?: string;
  help?: ReactNode;
}

const describedBy = ({ name, error, help }: Pick<FieldProps, "name" | "error" | "help">) =>
  error ? `${name}-error` : help ? `${name}-help` : undefined;

/** The error of field `name`, or its help text when there is no error. */
export function FieldHelp({ name, error, help }: Pick<FieldProps, "name" | "error" | "help">) {
  if (error)
    return (
      <p id={`${name}-error`} className="field-error" role="alert" data-testid={`error-${name}`}>
        {error}
      </p>
    );
  return help ? (
    <p id={`${name}-help`} className="mt-1 text-xs text-slate-600">
      {help}
    </p>
  ) : null;
}

export function TextField(
  props: FieldProps & {
    value: string;
    onChange: (v: string) => void;
    inputMode?: "decimal" | "numeric" | "text";
    placeholder?: string;
    mono?: boolean;
  },
) {
  const { name, label, value, onChange, error, inputMode = "decimal", placeholder, mono } = props;
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
        autoComplete="off"
        spellCheck={false}
        placeholder={placeholder}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(props)}
      />
      <FieldHelp {...props} />
    </div>
  );
}

export function SelectField(
  props: FieldProps & { value: string; onChange: (v: string) => void; options: readonly { value: string; label: string }[] },
) {
  const { name, label, value, onChange, options, error } = props;
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
        aria-describedby={describedBy(props)}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldHelp {...props} />
    </div>
  );
}

export function FlagField(props: FieldProps & { checked: boolean; onChange: (v: boolean) => void }) {
  const { name, label, checked, onChange } = props;
  return (
    <div className="flex items-start gap-2 text-sm">
      <input
        id={name}
        type="checkbox"
        name={name}
        className="mt-1"
        checked={checked}
        onChange={(e) => onChange(e.target.checked)}
        aria-describedby={describedBy(props)}
      />
      <div>
        <label htmlFor={name} className="font-medium text-slate-700">
          {label}
        </label>
        <FieldHelp {...props} />
      </div>
    </div>
  );
}
