"use client";
// One page of a dataset's records with inline edit, add and delete. Every change goes through a
// server action that re-validates and rewrites the file atomically; the page is then refreshed
// from the file, so what is shown is what is on disk.
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { useT } from "@/lib/i18n/client";
import type { AnswerLayout, EditableRecord } from "@/lib/datasets/edit";
import { answersAsText } from "@/lib/datasets/pair-fields";
import { recordToTurns, type ConversationLayout, type TurnsDoc } from "@/lib/datasets/turns";
import {
  addConversationAction,
  addRecordAction,
  deleteRecordAction,
  updateConversationAction,
  updateRecordAction,
  type ActionResult,
} from "@/app/datasets/actions";
import type { EditorError } from "./RecordEditor";
import { EditPane } from "./EditPane";
import { TurnsSummary } from "./TurnsSummary";

type Mode = { kind: "edit"; index: number } | { kind: "add" } | { kind: "delete"; index: number } | null;

const PREVIEW_CHARS = 240;
const clip = (s: string) => (s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s);

function RecordsHeader() {
  const t = useT();
  return (
    <thead className="text-slate-500">
      <tr>
        <th className="w-12 p-1">#</th>
        <th className="p-1">{t("datasets.records.record")}</th>
        <th className="w-40 p-1">
          <span className="sr-only">{t("datasets.records.actions")}</span>
        </th>
      </tr>
    </thead>
  );
}

/** A preference record: its prompt fields, then the chosen and rejected answers side by side. */
function PairFields({ row, answers }: { row: EditableRecord; answers: AnswerLayout }) {
  const t = useT();
  const { values } = answersAsText(row, answers);
  const side = (key: string, label: string, tone: string) => (
    <div className={`rounded border p-1.5 ${tone}`} data-testid={`row-${key}`}>
      <div className="text-xs font-medium text-slate-600">{label}</div>
      <div className="whitespace-pre-wrap break-words">{values[key] ? clip(values[key]) : <span className="text-slate-500 italic">{t("datasets.records.empty")}</span>}</div>
    </div>
  );
  return (
    <div className="space-y-1.5">
      <RecordFields row={row} hide={[answers.chosen, answers.rejected]} />
      <div className="grid gap-2 md:grid-cols-2">
        {side(answers.chosen, t("datasets.pair.chosen"), "border-emerald-200 bg-emerald-50/40")}
        {side(answers.rejected, t("datasets.pair.rejected"), "border-rose-200 bg-rose-50/40")}
      </div>
    </div>
  );
}

/** A record's fields, each value clipped (JSON values on one line). */
function RecordFields({ row, hide = [] }: { row: EditableRecord; hide?: string[] }) {
  const t = useT();
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-3">
      {row.fields.filter((f) => !hide.includes(f.key)).map((f) => (
        <div key={f.key} className="contents">
          <dt className="font-mono text-xs text-slate-500">{f.key}</dt>
          <dd className={`min-h-5 whitespace-pre-wrap break-words ${f.json ? "font-mono text-xs" : ""}`}>
            {f.value === "" ? <span className="text-slate-500 italic">{t("datasets.records.empty")}</span> : clip(f.json ? JSON.stringify(JSON.parse(f.value)) : f.value)}
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** A record as listed: a pair side by side, a conversation turn by turn when the turn editor can read it, else its fields. */
function RecordSummary({ row, conversation, answers }: { row: EditableRecord; conversation: ConversationLayout | null; answers: AnswerLayout | null }) {
  if (answers) return <PairFields row={row} answers={answers} />;
  const summary = conversation === null ? null : recordToTurns(JSON.parse(row.expected) as unknown, conversation);
  return summary?.ok && conversation !== null ? <TurnsSummary row={row} doc={summary.doc} layout={conversation} clip={clip} /> : <RecordFields row={row} />;
}

function DeleteConfirm(props: { index: number; pending: boolean; error: EditorError | null; onConfirm: () => void; onCancel: () => void }) {
  const t = useT();
  const { index, pending, error } = props;
  return (
    <div className="mt-2 flex flex-wrap items-center gap-2 rounded bg-red-50 p-2" role="group" aria-label={t("datasets.records.confirmDelete", { n: index })}>
      <span className="text-sm text-red-800">{t("datasets.records.confirmDelete", { n: index })}</span>
      <button type="button" className="btn btn-danger" disabled={pending} onClick={props.onConfirm}>
        {t("datasets.records.deleteYes")}
      </button>
      <button type="button" className="btn btn-secondary" onClick={props.onCancel}>
        {t("datasets.editor.cancel")}
      </button>
      {error && (
        <p className="field-error w-full" role="alert">
          {error.message}
        </p>
      )}
    </div>
  );
}

/** Which record is being edited, added or deleted, and running a change: its error, or a notice and a refresh. */
function useRecordEdits() {
  const router = useRouter();
  const [mode, setMode] = useState<Mode>(null);
  const [error, setError] = useState<EditorError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();

  const open = (m: Mode) => {
    setMode(m);
    setError(null);
    setNotice(null);
  };

  function run<T>(call: () => Promise<ActionResult<T>>, done: (value: T) => string) {
    startTransition(async () => {
      const r = await call();
      if (!r.ok) {
        setError({ field: r.field, message: r.message });
        return;
      }
      setMode(null);
      setError(null);
      setNotice(done(r.value));
      router.refresh();
    });
  }
  return { mode, error, setError, notice, pending, open, run };
}

export function RecordTable(props: {
  dataset: string;
  rows: EditableRecord[];
  blank: EditableRecord;
  conversation: ConversationLayout | null;
  answers?: AnswerLayout | null;
  ktoTag?: string | null;
}) {
  const t = useT();
  const { mode, error, setError, notice, pending, open, run } = useRecordEdits();
  const stageProps = { answers: props.answers ?? null, ktoTag: props.ktoTag ?? null };

  const save = (row: EditableRecord) => (fields: Record<string, string>, jsonKeys: string[]) =>
    run(
      () => updateRecordAction({ dataset: props.dataset, index: row.index, expected: row.expected, fields, jsonKeys }),
      () => t("datasets.records.saved", { n: row.index }),
    );
  const saveTurns = (row: EditableRecord) => (doc: TurnsDoc) =>
    run(
      () => updateConversationAction({ dataset: props.dataset, index: row.index, expected: row.expected, doc }),
      () => t("datasets.records.saved", { n: row.index }),
    );

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-3">
        <button type="button" className="btn btn-secondary" onClick={() => open({ kind: "add" })} disabled={mode?.kind === "add"}>
          {t("datasets.records.add")}
        </button>
        {notice && (
          <span className="text-sm text-emerald-700" role="status" data-testid="record-notice">
            {notice}
          </span>
        )}
      </div>
      {mode?.kind === "add" && (
        <div className="rounded-md border border-indigo-200 bg-indigo-50/40 p-3">
          <EditPane
            record={props.blank}
            conversation={props.conversation}
            title={t("datasets.records.newTitle", { n: props.blank.index })}
            saving={pending}
            error={error}
            onCancel={() => open(null)}
            onSwitch={() => setError(null)}
            {...stageProps}
            onSaveFields={(fields, jsonKeys) =>
              run(() => addRecordAction({ dataset: props.dataset, fields, jsonKeys }), (v) => t("datasets.records.added", { n: v.index }))
            }
            onSaveTurns={(doc) => run(() => addConversationAction({ dataset: props.dataset, doc }), (v) => t("datasets.records.added", { n: v.index }))}
          />
        </div>
      )}
      {/* relative: the sr-only headers are absolutely positioned; without a positioned scroll
          container they escape its clipping and widen the page on a narrow window. */}
      <div className="relative overflow-x-auto">
        <table className="w-full text-left text-sm">
          <RecordsHeader />
          <tbody>
            {props.rows.map((row) => {
              const editing = mode?.kind === "edit" && mode.index === row.index;
              const deleting = mode?.kind === "delete" && mode.index === row.index;
              return (
                <tr key={`${row.index}-${row.expected}`} className="border-t border-slate-100 align-top" data-testid={`record-${row.index}`}>
                  <td className="p-1 text-slate-500">{row.index}</td>
                  <td className="p-1">
                    {editing ? (
                      <EditPane
                        record={row}
                        conversation={props.conversation}
                        title={t("datasets.records.editTitle", { n: row.index })}
                        saving={pending}
                        error={error}
                        onSaveFields={save(row)}
                        onSaveTurns={saveTurns(row)}
                        onCancel={() => open(null)}
                        onSwitch={() => setError(null)}
                        {...stageProps}
                      />
                    ) : (
                      <RecordSummary row={row} conversation={props.conversation} answers={props.answers ?? null} />
                    )}
                    {deleting && (
                      <DeleteConfirm
                        index={row.index}
                        pending={pending}
                        error={error}
                        onCancel={() => open(null)}
                        onConfirm={() =>
                          run(
                            () => deleteRecordAction({ dataset: props.dataset, index: row.index, expected: row.expected }),
                            () => t("datasets.records.deleted", { n: row.index }),
                          )
                        }
                      />
                    )}
                  </td>
                  <td className="space-x-1 p-1 text-right">
                    {!editing && (
                      <>
                        <button type="button" className="btn btn-secondary" aria-label={t("datasets.records.editLabel", { n: row.index })} onClick={() => open({ kind: "edit", index: row.index })}>
                          {t("datasets.records.edit")}
                        </button>
                        <button type="button" className="btn btn-secondary" aria-label={t("datasets.records.deleteLabel", { n: row.index })} onClick={() => open({ kind: "delete", index: row.index })}>
                          {t("datasets.records.delete")}
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
