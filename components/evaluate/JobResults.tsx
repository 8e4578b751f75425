// The result of one finished eval/export job (Job.result, parsed with zod): the metrics table and
// the prediction-vs-reference table (a page at a time), or the export folder and its files.
import path from "node:path";
import type { TFunction } from "@/lib/i18n/translate";
import type { EvalResult } from "@/lib/schemas/eval-config";
import type { ExportResult } from "@/lib/schemas/export-config";
import { formatBytes as size } from "./format-bytes";
import { GgufExportResult } from "./GgufExportResult";
import { PredictionsTable } from "./PredictionsTable";

const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? "—" : v.toFixed(digits));

export function EvalMetrics({ result, t }: { result: EvalResult; t: TFunction }) {
  const m = result.metrics;
  const rows: [string, string, string][] = [
    ["eval_loss", t("evaluate.metrics.evalLoss"), fmt(m.eval_loss)],
    ["perplexity", t("evaluate.metrics.perplexity"), fmt(m.perplexity)],
    ["bleu-4", t("evaluate.metrics.bleu4"), fmt(m["predict_bleu-4"])],
    ["rouge-1", t("evaluate.metrics.rouge1"), fmt(m["predict_rouge-1"])],
    ["rouge-2", t("evaluate.metrics.rouge2"), fmt(m["predict_rouge-2"])],
    ["rouge-l", t("evaluate.metrics.rougeL"), fmt(m["predict_rouge-l"])],
    ["samples", t("evaluate.metrics.samples"), String(m.num_samples)],
    ["predicted", t("evaluate.metrics.predicted"), String(m.num_predicted)],
    ["tokens_per_sec", t("evaluate.metrics.tokensPerSec"), fmt(m.predict_tokens_per_sec, 1)],
    ["runtime", t("evaluate.metrics.runtime"), fmt(m.runtime_s, 1)],
  ];
  return (
    <div className="space-y-3">
      <table className="w-full max-w-md text-left text-sm" data-testid="eval-metrics">
        <caption className="text-left font-medium">{t("evaluate.metrics.title")}</caption>
        <thead className="text-slate-500">
          <tr>
            <th className="p-1.5" scope="col">{t("evaluate.metrics.metric")}</th>
            <th className="p-1.5" scope="col">{t("evaluate.metrics.value")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([key, label, value]) => (
            <tr key={key} className="border-t border-slate-100" data-metric={key}>
              <th className="p-1.5 font-normal" scope="row">{label}</th>
              <td className="p-1.5 font-mono">{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <dl className="text-xs text-slate-600">
        <div>
          <dt className="inline font-medium">{t("evaluate.files.predictions")}: </dt>
          <dd className="inline font-mono" data-testid="eval-predictions-file">{result.files.predictions}</dd>
        </div>
        <div>
          <dt className="inline font-medium">{t("evaluate.files.metrics")}: </dt>
          <dd className="inline font-mono">{result.files.metrics}</dd>
        </div>
      </dl>
      {result.predictions.length > 0 && <PredictionsTable predictions={result.predictions} />}
    </div>
  );
}

export function ExportFiles({ result, t }: { result: ExportResult; t: TFunction }) {
  if ("format" in result) return <GgufExportResult result={result} t={t} />;
  return (
    <div className="space-y-2 text-sm">
      <p>
        <span className="font-medium">{t("evaluate.export.path")}: </span>
        <code className="break-all" data-testid="export-path">{result.export_dir}</code>
      </p>
      <p className="text-slate-600">{t("evaluate.export.summary", { shards: result.shards, dtype: result.dtype, mb: result.max_shard_size_mb })}</p>
      <table className="w-full max-w-lg text-left" data-testid="export-files">
        <thead className="text-slate-500">
          <tr>
            <th className="p-1.5" scope="col">{t("evaluate.export.file")}</th>
            <th className="p-1.5" scope="col">{t("evaluate.export.size")}</th>
          </tr>
        </thead>
        <tbody>
          {result.files.map((f) => (
            <tr key={f.name} className="border-t border-slate-100">
              <td className="p-1.5 font-mono">{path.basename(f.name)}</td>
              <td className="p-1.5">{size(f.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
