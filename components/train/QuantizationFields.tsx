"use client";
// Quantization bit (LlamaBoard's none / 8 / 4) and, where more than one method fits the width, the
// method. The rule between these and the fine-tuning method is the schema's (quantizationIssues):
// shown at the field as soon as the form breaks it, and again by the server at Start.
import type { TFunction } from "@/lib/i18n/translate";
import { translateMessage } from "@/lib/i18n/validation";
import { useLocale } from "@/lib/i18n/client";
import { QUANTIZATION_BITS, quantizationIssues, type RunConfig } from "@/lib/schemas/run-config";
import type { FormState } from "@/lib/configs/form";
import { SelectField } from "@/components/form/fields";
import type { FieldErrors } from "./types";

/** Methods offered per bit width: 4 bits has one (nf4, what auto picks), so no method select. */
export const METHODS_FOR_BITS: Record<(typeof QUANTIZATION_BITS)[number], readonly string[]> = {
  none: [],
  "8": ["auto", "fp8", "int8"],
  "4": [],
};

export function QuantizationFields({ t, form, errors, setValues }: { t: TFunction; form: FormState; errors: FieldErrors; setValues: (values: Record<string, string>) => void }) {
  const locale = useLocale();
  const v = form.values;
  const bits = (v.quantization_bit ?? "none") as (typeof QUANTIZATION_BITS)[number];
  const method = v.quantization_method ?? "auto";
  const methods = METHODS_FOR_BITS[bits] ?? [];
  const live = quantizationIssues({
    quantization_bit: bits,
    quantization_method: method as RunConfig["quantization_method"],
    finetuning_type: (v.finetuning_type ?? "lora") as RunConfig["finetuning_type"],
  });
  const liveError = (name: string) => {
    const issue = live.find((i) => i.path === name);
    return issue ? translateMessage(issue.message, locale) : undefined;
  };
  const field = (name: "quantization_bit" | "quantization_method") => ({
    name,
    label: t(`train.field.${name}.label`),
    help: t(`train.field.${name}.help`),
    error: errors[name] ?? liveError(name),
  });
  // A width change drops a method that no longer fits: the form never holds a pair the schema refuses.
  const pickBits = (next: string) =>
    setValues({ quantization_bit: next, quantization_method: METHODS_FOR_BITS[next as typeof bits]?.includes(method) ? method : "auto" });
  return (
    <>
      <SelectField
        {...field("quantization_bit")}
        value={bits}
        onChange={pickBits}
        options={QUANTIZATION_BITS.map((b) => ({ value: b, label: b === "none" ? t("train.quantization.none") : t("train.quantization.bits", { bits: b }) }))}
      />
      {methods.length > 0 ? (
        <SelectField
          {...field("quantization_method")}
          value={method}
          onChange={(m) => setValues({ quantization_method: m })}
          options={methods.map((m) => ({ value: m, label: t(`train.quantization.method.${m as "auto" | "fp8" | "int8"}`) }))}
        />
      ) : (
        <input type="hidden" name="quantization_method" value={method} />
      )}
    </>
  );
}
