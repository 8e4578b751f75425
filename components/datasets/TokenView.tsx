"use client";
// "As the model sees it": a record rendered by the trainer's own Python code (render.py) with the
// chosen template and the chosen model's tokenizer. Trained tokens (labels != -100) are
// highlighted; everything else is prompt the model only reads.
import { useState, useTransition } from "react";
import { useT } from "@/lib/i18n/client";
import { RENDER_TEMPLATES, type RenderResult } from "@/lib/schemas/dataset";
import { renderRecordAction } from "@/app/datasets/actions";
import { LengthHistogram } from "./LengthHistogram";
import { TokenStream } from "./TokenStream";

export function TokenView(props: { dataset: string; total: number; models: { path: string; name: string }[]; defaultModel: string; defaultTemplate: string }) {
  const t = useT();
  const [model, setModel] = useState(props.defaultModel);
  const [template, setTemplate] = useState(props.defaultTemplate);
  const [record, setRecord] = useState("0");
  const [cutoff, setCutoff] = useState("2048");
  const [result, setResult] = useState<RenderResult | null>(null);
  const [error, setError] = useState<{ field: string; message: string } | null>(null);
  const [pending, startTransition] = useTransition();

  const submit = () => {
    setError(null);
    startTransition(async () => {
      const r = await renderRecordAction({ dataset: props.dataset, model, template, record, cutoffLen: cutoff });
      if (r.ok) setResult(r.value);
      else setError({ field: r.field, message: r.message });
    });
  };
  const errAt = (field: string) =>
    error?.field === field ? (
      <p className="field-error" role="alert" data-testid={`tokens-error-${field}`}>
        {error.message}
      </p>
    ) : null;
  const fields = ["model", "template", "record", "cutoffLen"];

  return (
    <section className="card space-y-3" aria-labelledby="tokens-title" data-testid="token-view">
      <div>
        <h2 id="tokens-title" className="font-semibold">{t("datasets.tokens.title")}</h2>
        <p className="text-sm text-slate-600">{t("datasets.tokens.intro")}</p>
      </div>
      <form
        className="grid gap-3 sm:grid-cols-5"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="sm:col-span-2">
          <label className="field-label" htmlFor="tokens-model">{t("datasets.tokens.model")}</label>
          <select id="tokens-model" className="field-input" value={model} onChange={(e) => setModel(e.target.value)}>
            {props.models.map((m) => (
              <option key={m.path} value={m.path}>{m.name}</option>
            ))}
          </select>
          {errAt("model")}
        </div>
        <div>
          <label className="field-label" htmlFor="tokens-template">{t("datasets.tokens.template")}</label>
          <select id="tokens-template" className="field-input" value={template} onChange={(e) => setTemplate(e.target.value)}>
            {RENDER_TEMPLATES.map((n) => (
              <option key={n} value={n}>{n}</option>
            ))}
          </select>
          {errAt("template")}
        </div>
        <div>
          <label className="field-label" htmlFor="tokens-record">{t("datasets.tokens.record", { max: props.total - 1 })}</label>
          <input id="tokens-record" type="number" min={0} max={props.total - 1} className="field-input" value={record} onChange={(e) => setRecord(e.target.value)} />
          {errAt("record")}
        </div>
        <div>
          <label className="field-label" htmlFor="tokens-cutoff">{t("datasets.tokens.cutoff")}</label>
          <input id="tokens-cutoff" type="number" min={1} className="field-input" value={cutoff} onChange={(e) => setCutoff(e.target.value)} />
          {errAt("cutoffLen")}
        </div>
        <div className="sm:col-span-5">
          <button type="submit" className="btn btn-primary" disabled={pending || props.models.length === 0}>
            {pending ? t("datasets.tokens.rendering") : t("datasets.tokens.render")}
          </button>
          {props.models.length === 0 && <span className="ml-3 text-sm text-slate-600">{t("datasets.tokens.noModels")}</span>}
        </div>
      </form>
      {error && !fields.includes(error.field) && (
        <p className="field-error" role="alert" data-testid="tokens-error">{error.message}</p>
      )}
      {result && (
        <div className="space-y-3" data-testid="token-result">
          <p className="text-sm" data-testid="token-count">
            {t("datasets.tokens.count", { n: result.num_tokens, trained: result.num_trained, prompt: result.num_tokens - result.num_trained, record: result.record, template: result.template })}
            {result.truncated && <span className="ml-2 text-amber-700">{t("datasets.tokens.truncated", { full: result.full_length })}</span>}
          </p>
          <div className="flex flex-wrap gap-3 text-xs">
            <span><span className="mr-1 inline-block h-3 w-3 rounded-sm bg-emerald-200 align-middle ring-1 ring-emerald-500" />{t("datasets.tokens.legendTrained")}</span>
            <span><span className="mr-1 inline-block h-3 w-3 rounded-sm bg-slate-100 align-middle ring-1 ring-slate-300" />{t("datasets.tokens.legendPrompt")}</span>
          </div>
          {result.rejected ? (
            <div className="grid gap-3 md:grid-cols-2" data-testid="token-pair">
              <div data-testid="token-chosen">
                <h3 className="text-sm font-semibold">{t("datasets.tokens.chosen")}</h3>
                <p className="text-xs text-slate-600">{t("datasets.tokens.side", { n: result.num_tokens, trained: result.num_trained })}</p>
                <TokenStream tokens={result.tokens} />
              </div>
              <div data-testid="token-rejected">
                <h3 className="text-sm font-semibold">{t("datasets.tokens.rejected")}</h3>
                <p className="text-xs text-slate-600">{t("datasets.tokens.side", { n: result.rejected.num_tokens, trained: result.rejected.num_trained })}</p>
                <TokenStream tokens={result.rejected.tokens} />
              </div>
            </div>
          ) : (
            <TokenStream tokens={result.tokens} />
          )}
          {result.desirable !== undefined && (
            <p className="text-sm" data-testid="token-kto">
              {t("datasets.tokens.kto", { tag: result.desirable ? t("datasets.kto.desirable") : t("datasets.kto.undesirable") })}
            </p>
          )}
          <h3 className="text-sm font-semibold">{t("datasets.tokens.histTitle")}</h3>
          <LengthHistogram lengths={result.lengths} cutoff={result.cutoff_len} />
        </div>
      )}
    </section>
  );
}
