"use client";
// The GPU memory estimate, recomputed as the form changes, with its breakdown. It says plainly
// that it is an estimate and what it assumes (lib/estimate/memory.ts).
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { estimateMemory, formatGiB, QUANTIZED_WEIGHT_BITS, type QuantizationBit, type ComputeType, type LoraTargetName, type MemoryPart, type Method } from "@/lib/estimate/memory";
import { formatParams } from "@/lib/estimate/shape";
import type { FormState } from "@/lib/configs/form";
import type { ModelOption } from "./types";

const PARTS: MemoryPart[] = ["weights", "trainable", "gradients", "optimizer", "activations", "logits", "overhead"];

const positiveInt = (s: string | undefined) => {
  const n = Number((s ?? "").trim());
  return Number.isInteger(n) && n > 0 ? n : null;
};

export function MemoryEstimate({ model, form }: { model: ModelOption | undefined; form: FormState }) {
  const t = useT();
  const v = form.values;
  const batch = positiveInt(v.per_device_train_batch_size);
  const cutoff = positiveInt(v.cutoff_len);
  // Only LoRA trains on a quantized base (the schema refuses the rest), so only LoRA's estimate follows the field.
  const bits = (v.finetuning_type ?? "lora") === "lora" ? ((v.quantization_bit ?? "none") as QuantizationBit) : "none";
  let body: React.ReactNode;
  if (!model?.shape || model.parameterCount === null) {
    body = <p className="text-sm text-slate-600">{t("train.memory.unavailable")}</p>;
  } else if (batch === null || cutoff === null) {
    body = <p className="text-sm text-slate-600">{t("train.memory.invalid")}</p>;
  } else {
    const e = estimateMemory(
      {
        shape: model.shape,
        method: (v.finetuning_type ?? "lora") as Method,
        computeType: (v.compute_type ?? "auto") as ComputeType,
        loraRank: positiveInt(v.lora_rank) ?? 8,
        loraTarget: form.targetAll ? "all" : (form.modules as LoraTargetName[]),
        useDora: form.flags.use_dora,
        // -N trains the first N layers: as many layers as N.
        freezeLayers: positiveInt(v.freeze_trainable_layers?.trim().replace(/^-/, "")) ?? 2,
        freezeModules: v.freeze_trainable_modules ?? "all",
        batchSize: batch,
        cutoffLen: cutoff,
        gradientCheckpointing: form.flags.gradient_checkpointing,
        quantizationBit: bits,
      },
      model.parameterCount,
    );
    const pct = ((100 * e.trainableParams) / model.parameterCount).toFixed(e.trainableParams / model.parameterCount < 0.01 ? 3 : 1);
    body = (
      <>
        <p className="text-lg font-semibold" data-testid="memory-total">
          {t("train.memory.total", { total: formatGiB(e.totalBytes) })}
        </p>
        <p className="text-xs text-slate-600" data-testid="memory-trainable">
          {t("train.memory.trainable", { n: formatParams(e.trainableParams), pct, total: formatParams(model.parameterCount) })}
          {" · "}
          {t(form.flags.gradient_checkpointing ? "train.memory.checkpointing.on" : "train.memory.checkpointing.off")}
        </p>
        <table className="mt-2 w-full text-sm" data-testid="memory-breakdown">
          <thead className="sr-only">
            <tr>
              <th scope="col">{t("train.memory.part")}</th>
              <th scope="col">{t("train.memory.size")}</th>
            </tr>
          </thead>
          <tbody>
            {PARTS.filter((p) => e.parts[p] > 0).map((p) => (
              <tr key={p} className="border-t border-slate-100">
                <th scope="row" className="py-1 pr-2 text-left font-normal text-slate-700">
                  {p === "weights" && bits !== "none" ? t("train.memory.part.weights.quantized", { bits }) : t(`train.memory.part.${p}` as MessageKey)}
                  <span
                    aria-hidden="true"
                    className="mt-0.5 block h-1 rounded bg-indigo-400"
                    style={{ width: `${Math.max(1, (100 * e.parts[p]) / e.totalBytes)}%` }}
                  />
                </th>
                <td className="py-1 text-right tabular-nums" data-testid={`memory-${p}`} data-bytes={Math.round(e.parts[p])}>
                  {formatGiB(e.parts[p])}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="mt-2 text-xs text-slate-600">{t("train.memory.note", { dtype: e.dtypeBytes === 4 ? "fp32" : "bf16/fp16" })}</p>
        {bits !== "none" && (
          <p className="mt-1 text-xs text-slate-600" data-testid="memory-quantized">
            {t("train.memory.quantized", { bits, perWeight: String(QUANTIZED_WEIGHT_BITS[bits]) })}
          </p>
        )}
        {v.finetuning_type === "lora" && !form.flags.use_dora && v.fast_path !== "off" && bits === "none" && (
          <p className="mt-1 text-xs text-slate-600" data-testid="memory-fast-path">
            {t("train.memory.fastPath")}
          </p>
        )}
      </>
    );
  }
  return (
    <section className="card" aria-labelledby="memory-title" data-testid="memory-estimate">
      <h2 id="memory-title" className="mb-2 font-semibold">
        {t("train.memory.title")}
      </h2>
      {body}
    </section>
  );
}
