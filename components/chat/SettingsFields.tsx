"use client";
// Generation settings as controlled text inputs; errors arrive per field from zod (ChatPanel).
import { useEffect, useState } from "react";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { DEFAULT_SETTINGS, type SettingsForm } from "./store";

const FIELDS: { key: Exclude<keyof SettingsForm, "system">; label: MessageKey; inputMode: "numeric" | "decimal" }[] = [
  { key: "max_new_tokens", label: "chat.settings.maxNew", inputMode: "numeric" },
  { key: "temperature", label: "chat.settings.temperature", inputMode: "decimal" },
  { key: "top_p", label: "chat.settings.topP", inputMode: "decimal" },
  { key: "top_k", label: "chat.settings.topK", inputMode: "numeric" },
  { key: "repetition_penalty", label: "chat.settings.repetition", inputMode: "decimal" },
  { key: "seed", label: "chat.settings.seed", inputMode: "numeric" },
];

export function SettingsFields({
  form,
  onChange,
  errors,
}: {
  form: SettingsForm;
  onChange: (f: SettingsForm) => void;
  errors: Partial<Record<keyof SettingsForm, string>>;
}) {
  const t = useT();
  // Controlled open state (an `open` prop that comes and goes would close it under the user);
  // a refused field opens it so the message can be seen.
  const [open, setOpen] = useState(false);
  const hasErrors = Object.keys(errors).length > 0;
  useEffect(() => {
    if (hasErrors) setOpen(true);
  }, [hasErrors]);
  return (
    <details open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary className="cursor-pointer text-sm font-medium">{t("chat.settings.title")}</summary>
      <div className="mt-2 space-y-2">
        <p className="text-xs text-slate-500">{t("chat.settings.defaults")}</p>
        <div className="grid grid-cols-2 gap-2">
          {FIELDS.map((f) => (
            <div key={f.key}>
              <label className="field-label" htmlFor={`gen-${f.key}`}>{t(f.label)}</label>
              <input
                id={`gen-${f.key}`}
                className="field-input"
                inputMode={f.inputMode}
                value={form[f.key]}
                aria-invalid={errors[f.key] ? true : undefined}
                aria-describedby={errors[f.key] ? `error-${f.key}` : undefined}
                onChange={(e) => onChange({ ...form, [f.key]: e.target.value })}
              />
              {errors[f.key] && (
                <p className="field-error" id={`error-${f.key}`} data-testid={`error-${f.key}`}>{errors[f.key]}</p>
              )}
            </div>
          ))}
        </div>
        <label className="field-label" htmlFor="gen-system">{t("chat.settings.system")}</label>
        <textarea
          id="gen-system"
          className="field-input"
          rows={3}
          value={form.system}
          onChange={(e) => onChange({ ...form, system: e.target.value })}
        />
        <button type="button" className="btn btn-secondary" onClick={() => onChange({ ...DEFAULT_SETTINGS, system: form.system })}>
          {t("chat.settings.reset")}
        </button>
      </div>
    </details>
  );
}
