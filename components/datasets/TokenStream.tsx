"use client";
// One rendered row of tokens: trained ones (labels kept) highlighted, prompt tokens grey.
import { useT } from "@/lib/i18n/client";
import type { RenderResult } from "@/lib/schemas/dataset";

// Make whitespace and line ends visible inside token boxes; the line break itself is kept.
const show = (text: string) => text.replaceAll(" ", "·").replaceAll("\t", "→").replaceAll("\n", "↵\n");

export function TokenStream({ tokens }: { tokens: RenderResult["tokens"] }) {
  const t = useT();
  return (
    <div className="max-h-96 overflow-auto whitespace-pre-wrap break-words rounded border border-slate-200 p-2 font-mono text-xs leading-6" data-testid="token-stream">
      {tokens.map((tok, i) => (
        <span
          key={i}
          title={`#${i} id ${tok.id}${tok.trained ? ` · ${t("datasets.tokens.legendTrained")}` : ""}`}
          data-trained={tok.trained ? "true" : "false"}
          className={`mr-px rounded-sm px-px ${tok.trained ? "bg-emerald-200 text-emerald-950 ring-1 ring-emerald-400" : "bg-slate-100 text-slate-600"}`}
        >
          {show(tok.text)}
        </span>
      ))}
    </div>
  );
}
