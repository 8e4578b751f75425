"use client";
// Under the Basic settings: the global batch the GPUs field implies (batch × accumulation × GPUs,
// the trainer's rule in distributed.py), and what the registered workers can take. Asking for
// more GPUs than any online worker has is allowed (a bigger worker may join later): a warning,
// not an error.
import { useT } from "@/lib/i18n/client";
import { globalBatchSize } from "@/lib/schemas/run-config";

const wholeNumber = (s: string | undefined, min: number) => {
  const text = (s ?? "").trim();
  const n = text === "" ? NaN : Number(text);
  return Number.isInteger(n) && n >= min ? n : null;
};

export function GpuSummary({
  batch,
  accumulation,
  gpus,
  maxWorkerGpus,
}: {
  batch: string | undefined;
  accumulation: string | undefined;
  gpus: string | undefined;
  /** GPUs of the largest online worker; null: no worker online. */
  maxWorkerGpus: number | null;
}) {
  const t = useT();
  const b = wholeNumber(batch, 1);
  const a = wholeNumber(accumulation, 1);
  // An empty GPUs field means the default, 0.
  const n = (gpus ?? "").trim() === "" ? 0 : wholeNumber(gpus, 0);
  const total = b !== null && a !== null && n !== null ? globalBatchSize(b, a, n) : null;
  return (
    <div className="mt-3 space-y-1 text-sm" aria-live="polite">
      <p data-testid="global-batch">
        {total === null
          ? t("train.gpus.globalBatch.invalid")
          : n !== null && n >= 2
            ? t("train.gpus.globalBatch.multi", { batch: b!, accum: a!, gpus: n, total })
            : t("train.gpus.globalBatch", { batch: b!, accum: a!, total })}
      </p>
      <p className="text-slate-600" data-testid="worker-gpus">
        {maxWorkerGpus === null
          ? t("train.gpus.workers.none")
          : maxWorkerGpus === 0
            ? t("train.gpus.workers.cpu")
            : t("train.gpus.workers.max", { max: maxWorkerGpus })}
      </p>
      {n !== null && n > 0 && n > (maxWorkerGpus ?? 0) && (
        <p className="rounded-md border border-amber-300 bg-amber-50 px-2 py-1 text-amber-900" role="status" data-testid="gpus-warning">
          {t("train.gpus.tooMany", { n })}
        </p>
      )}
    </div>
  );
}
