"use client";
// One labelled form control with its one-line help, or its error in place of the help.
// The error is announced (role=alert) and tied to the control with aria-describedby.
import type { MessageKey } from "@/lib/i18n/translate";
import { useT } from "@/lib/i18n/client";
import type { FieldErrors } from "./types";

interface Common {
  name: string;
  errors: FieldErrors;
}

function Help({ name, errors }: Common) {
  const t = useT();
  const error = errors[name];
  if (error) {
    return (
      <p id={`${name}-error`} className="field-error" role="alert" data-testid={`error-${name}`}>
        {error}
      </p>
    );
  }
  return (
    <p id={`${name}-help`} className="mt-1 text-xs text-slate-600">
      {t(`train.field.${name}.help` as MessageKey)}
    </p>
  );
}

const describedBy = (name: string, errors: FieldErrors) => (errors[name] ? `${name}-error` : `${name}-help`);

export function TextField({
  name,
  errors,
  value,
  onChange,
  numeric = true,
  placeholder,
}: Common & { value: string; onChange: (v: string) => void; numeric?: boolean; placeholder?: string }) {
  const t = useT();
  return (
    <div>
      <label className="field-label" htmlFor={name}>
        {t(`train.field.${name}.label` as MessageKey)}
      </label>
      <input
        id={name}
        name={name}
        className="field-input"
        inputMode={numeric ? "decimal" : "text"}
        autoComplete="off"
        spellCheck={false}
        placeholder={placeholder}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={errors[name] ? true : undefined}
        aria-describedby={describedBy(name, errors)}
      />
      <Help name={name} errors={errors} />
    </div>
  );
}

export function SelectField({
  name,
  errors,
  value,
  onChange,
  options,
  optionLabel = (o) => o,
}: Common & { value: string; onChange: (v: string) => void; options: readonly string[]; optionLabel?: (o: string) => string }) {
  const t = useT();
  return (
    <div>
      <label className="field-label" htmlFor={name}>
        {t(`train.field.${name}.label` as MessageKey)}
      </label>
      <select
        id={name}
        name={name}
        className="field-input"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={errors[name] ? true : undefined}
        aria-describedby={describedBy(name, errors)}
      >
        {options.map((o) => (
          <option key={o} value={o}>
            {optionLabel(o)}
          </option>
        ))}
      </select>
      <Help name={name} errors={errors} />
    </div>
  );
}

export function FlagField({ name, errors, checked, onChange }: Common & { checked: boolean; onChange: (v: boolean) => void }) {
  const t = useT();
  return (
    <div className="flex items-start gap-2 text-sm">
      <input
        id={name}
        type="checkbox"
        name={name}
        className="mt-1"
        checked={checked}
        onChange={(e) => onChange(e.target.checked)}
        aria-describedby={describedBy(name, errors)}
      />
      <div>
        <label htmlFor={name} className="font-medium text-slate-700">
          {t(`train.field.${name}.label` as MessageKey)}
        </label>
        <Help name={name} errors={errors} />
      </div>
    </div>
  );
}
