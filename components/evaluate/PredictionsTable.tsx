"use client";
// The prediction-vs-reference table of a finished evaluation, a page of rows at a time: all of
// them at once made the Evaluate page thousands of pixels tall. "Show more" adds a page.
import { useState } from "react";
import { useT } from "@/lib/i18n/client";
import type { EvalResult } from "@/lib/schemas/eval-config";

export const PREDICTIONS_PAGE = 20;

export function PredictionsTable({ predictions }: { predictions: EvalResult["predictions"] }) {
  const t = useT();
  const [shown, setShown] = useState(PREDICTIONS_PAGE);
  const rows = predictions.slice(0, shown);
  const left = predictions.length - rows.length;
  return (
    <div className="relative space-y-2 overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="eval-predictions">
        <caption className="text-left font-medium">{t("evaluate.preds.title", { n: predictions.length })}</caption>
        <thead className="text-slate-500">
          <tr>
            <th className="p-1.5" scope="col">#</th>
            <th className="p-1.5" scope="col">{t("evaluate.preds.prompt")}</th>
            <th className="p-1.5" scope="col">{t("evaluate.preds.predict")}</th>
            <th className="p-1.5" scope="col">{t("evaluate.preds.label")}</th>
            <th className="p-1.5" scope="col">{t("evaluate.metrics.bleu4")}</th>
            <th className="p-1.5" scope="col">{t("evaluate.metrics.rougeL")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((p, i) => (
            <tr key={i} className="border-t border-slate-100 align-top">
              <td className="p-1.5 text-slate-500">{i + 1}</td>
              <td className="max-w-xs whitespace-pre-wrap break-words p-1.5">{p.prompt}</td>
              <td className="max-w-xs whitespace-pre-wrap break-words p-1.5">{p.predict}</td>
              <td className="max-w-xs whitespace-pre-wrap break-words p-1.5">{p.label}</td>
              <td className="p-1.5 font-mono">{p["bleu-4"].toFixed(2)}</td>
              <td className="p-1.5 font-mono">{p["rouge-l"].toFixed(2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {left > 0 && (
        <div className="flex items-center gap-3 text-sm">
          <span className="text-slate-600" data-testid="eval-predictions-shown">
            {t("evaluate.preds.shown", { shown: rows.length, total: predictions.length })}
          </span>
          <button type="button" className="btn" onClick={() => setShown((n) => n + PREDICTIONS_PAGE)}>
            {t("evaluate.preds.more", { n: Math.min(left, PREDICTIONS_PAGE) })}
          </button>
          <button type="button" className="btn" onClick={() => setShown(predictions.length)}>
            {t("evaluate.preds.all")}
          </button>
        </div>
      )}
    </div>
  );
}
