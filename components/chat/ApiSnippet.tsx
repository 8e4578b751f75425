"use client";
// "Use this model from other programs": copyable curl and Python (openai) snippets for the loaded
// model, as the OpenAI-compatible API names it (base folder, or base:run for an adapter).
import { useId, useState } from "react";
import { useT } from "@/lib/i18n/client";
import { curlSnippet, pythonSnippet } from "@/lib/api/snippets";
import { CopyButton } from "@/components/CopyButton";

export function ApiSnippet({ apiUrl, modelIds }: { apiUrl: string; modelIds: string[] }) {
  const t = useT();
  const [chosen, setChosen] = useState<string | null>(null);
  const model = chosen && modelIds.includes(chosen) ? chosen : modelIds[0];
  const curlId = useId();
  const pyId = useId();
  if (!model) return null;
  const curl = curlSnippet(apiUrl, model);
  const py = pythonSnippet(apiUrl, model);
  return (
    <details className="card space-y-2" data-testid="api-snippet">
      <summary className="cursor-pointer text-sm font-medium">{t("chat.api.title")}</summary>
      <p className="text-xs text-slate-600">{t("chat.api.hint")}</p>
      {modelIds.length > 1 && (
        <label className="grid gap-1 text-sm">
          {t("chat.api.model")}
          <select className="field-input" value={model} onChange={(e) => setChosen(e.target.value)}>
            {modelIds.map((id) => (
              <option key={id} value={id}>{id}</option>
            ))}
          </select>
        </label>
      )}
      {[
        { label: "curl", text: curl, id: curlId, testId: "api-snippet-curl" },
        { label: "Python (openai)", text: py, id: pyId, testId: "api-snippet-python" },
      ].map((s) => (
        <div key={s.label}>
          <div className="flex items-center justify-between gap-2">
            <span className="text-sm font-medium text-slate-700">{s.label}</span>
            <CopyButton text={s.text} label={s.label} selectId={s.id} />
          </div>
          <pre id={s.id} tabIndex={0} data-testid={s.testId} aria-label={s.label} className="mt-1 max-h-60 overflow-auto rounded-md bg-slate-900 p-3 text-xs text-slate-100">
            {s.text}
          </pre>
        </div>
      ))}
    </details>
  );
}
