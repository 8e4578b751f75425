"use client";
// Renders run-config fields with the shared field kit: every field's label and help live under
// train.field.<name> in the messages, its error comes from the last Start or Save.
import type { TFunction, MessageKey } from "@/lib/i18n/translate";
import type { Flag, FormState } from "@/lib/configs/form";
import { FlagField, SelectField, TextField } from "@/components/form/fields";
import type { FieldErrors } from "./types";

export function trainFields(t: TFunction, errors: FieldErrors, form: FormState, set: (name: string) => (value: string) => void, setFlag: (name: Flag) => (value: boolean) => void) {
  const v = form.values;
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
  return { field, text, flag, select };
}
