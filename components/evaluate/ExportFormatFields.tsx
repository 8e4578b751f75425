"use client";
// The Export form's format choice: a Hugging Face folder (shard size, dtype) or one GGUF file (type).
import { EXPORT_DTYPES, EXPORT_FORMATS, GGUF_TYPES } from "@/lib/schemas/export-config";
import { useT } from "@/lib/i18n/client";
import { SelectField, TextField } from "@/components/form/fields";

export function ExportFormatFields(props: { values: Record<string, string>; set: (k: string) => (v: string) => void; errors: Record<string, string | undefined> }) {
  const { values, set, errors } = props;
  const t = useT();
  const format = values.format ?? "hf";
  return (
    <>
      <SelectField
        name="format"
        label={t("evaluate.form.format")}
        value={format}
        onChange={set("format")}
        options={EXPORT_FORMATS.map((f) => ({ value: f, label: t(f === "hf" ? "evaluate.form.formatHf" : "evaluate.form.formatGguf") }))}
        error={errors.format}
      />
      {format === "gguf" ? (
        <SelectField
          name="gguf_type"
          label={t("evaluate.form.ggufType")}
          value={values.gguf_type ?? "q8_0"}
          onChange={set("gguf_type")}
          options={GGUF_TYPES.map((g) => ({ value: g, label: g === "q4_k_m" ? t("evaluate.form.ggufQ4km") : g.toUpperCase() }))}
          error={errors.gguf_type}
          help={t("evaluate.form.ggufHelp")}
        />
      ) : (
        <>
          <TextField name="max_shard_size_mb" label={t("evaluate.form.maxShard")} value={values.max_shard_size_mb ?? ""} onChange={set("max_shard_size_mb")} error={errors.max_shard_size_mb} />
          <SelectField
            name="export_dtype"
            label={t("evaluate.form.dtype")}
            value={values.export_dtype ?? "auto"}
            onChange={set("export_dtype")}
            options={EXPORT_DTYPES.map((d) => ({ value: d, label: d === "auto" ? t("evaluate.form.dtypeAuto") : d }))}
            error={errors.export_dtype}
          />
        </>
      )}
    </>
  );
}
