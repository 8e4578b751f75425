"use client";
// A conversation record in the table, read-only: the system prompt, one line per turn (the tag as
// stored, then the text), and the record's other keys as in the plain view.
import { useT } from "@/lib/i18n/client";
import type { EditableRecord } from "@/lib/datasets/edit";
import type { ConversationLayout, TurnsDoc } from "@/lib/datasets/turns";

export function TurnsSummary(props: { row: EditableRecord; doc: TurnsDoc; layout: ConversationLayout; clip: (s: string) => string }) {
  const t = useT();
  const { row, doc, layout, clip } = props;
  const others = row.fields.filter((f) => f.key !== layout.messages && f.key !== layout.systemColumn);
  return (
    <div className="space-y-1">
      {doc.system ? (
        <p className="whitespace-pre-wrap break-words text-slate-600">
          <span className="mr-3 inline-block w-24 break-all font-mono text-xs text-slate-500">{layout.systemColumn}</span>
          {clip(doc.system)}
        </p>
      ) : null}
      <ol className="space-y-0.5" aria-label={t("datasets.turns.list")}>
        {doc.turns.map((turn, i) => (
          <li key={i} className="grid grid-cols-[6rem_1fr] gap-x-3">
            <span className="break-all font-mono text-xs leading-5 text-slate-500">{layout.tags[turn.role]}</span>
            <span className="min-h-5 whitespace-pre-wrap break-words">
              {turn.content === "" ? <span className="text-slate-500 italic">{t("datasets.records.empty")}</span> : clip(turn.content)}
            </span>
          </li>
        ))}
      </ol>
      {others.length > 0 && (
        <dl className="grid grid-cols-[max-content_1fr] gap-x-3">
          {others.map((f) => (
            <div key={f.key} className="contents">
              <dt className="font-mono text-xs text-slate-500">{f.key}</dt>
              <dd className={`whitespace-pre-wrap break-words ${f.json ? "font-mono text-xs" : ""}`}>{clip(f.json ? JSON.stringify(JSON.parse(f.value)) : f.value)}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}
