// A finished GGUF export: the file with its size and sha256, the tensor types, the files beside it
// (Modelfile, README.md) and the model card's text.
import type { TFunction } from "@/lib/i18n/translate";
import type { GgufExportResult as Result } from "@/lib/schemas/export-config";
import { formatBytes } from "./format-bytes";

export function GgufExportResult({ result, t }: { result: Result; t: TFunction }) {
  return (
    <div className="space-y-2 text-sm" data-testid="gguf-result">
      <p>
        <span className="font-medium">{t("evaluate.export.path")}: </span>
        <code className="break-all" data-testid="export-path">{result.export_dir}</code>
      </p>
      <p className="text-slate-600">
        {t("evaluate.export.ggufSummary", { type: result.gguf_type, types: Object.entries(result.tensor_types).map(([k, n]) => `${k} ×${n}`).join(", ") })}
      </p>
      <table className="w-full text-left" data-testid="export-files">
        <thead className="text-slate-500">
          <tr>
            <th className="p-1.5" scope="col">{t("evaluate.export.file")}</th>
            <th className="p-1.5" scope="col">{t("evaluate.export.size")}</th>
            <th className="p-1.5" scope="col">sha256</th>
          </tr>
        </thead>
        <tbody>
          {result.files.map((f) => (
            <tr key={f.name} className="border-t border-slate-100" data-file={f.name}>
              <td className="p-1.5 font-mono">{f.name}</td>
              <td className="p-1.5" data-testid={f.name === result.gguf_file ? "gguf-size" : undefined}>{formatBytes(f.bytes)}</td>
              <td className="break-all p-1.5 font-mono text-xs" data-testid={f.name === result.gguf_file ? "gguf-sha256" : undefined}>{f.sha256 ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <details open>
        <summary className="cursor-pointer text-slate-600">{t("evaluate.export.modelCard")}</summary>
        <pre className="mt-2 max-h-96 overflow-auto whitespace-pre-wrap rounded border border-slate-200 p-2 text-xs" data-testid="model-card">{result.model_card_text}</pre>
      </details>
    </div>
  );
}
