"use client";
// One record's fields as controlled text areas (React 19 form actions would reset uncontrolled
// ones, losing what the user typed when the server refuses the save). Lists such as history or
// messages are edited as JSON (conversation records have TurnEditor; this is their fallback).
// A refusal is shown at the field it names. A preference record's two answers sit side by side
// under its prompt; a KTO record's tag is a choice.
import { useState } from "react";
import { useT } from "@/lib/i18n/client";
import { EditorActions } from "./EditorActions";
import type { AnswerLayout, EditableRecord } from "@/lib/datasets/edit";
import { answersAsText, answersFromText } from "@/lib/datasets/pair-fields";

export interface EditorError {
  field: string;
  message: string;
}

export function RecordEditor(props: {
  record: EditableRecord;
  title: string;
  saving: boolean;
  error: EditorError | null;
  onSave: (fields: Record<string, string>, jsonKeys: string[]) => void;
  onCancel: () => void;
  /** Conversation records: why the turn editor cannot show this one, or a way back to it. */
  note?: string;
  onTurns?: () => void;
  /** Preference datasets: the answer columns, shown side by side. */
  answers?: AnswerLayout | null;
  /** KTO datasets: the desirable/undesirable column. */
  ktoTag?: string | null;
}) {
  const t = useT();
  const { record, error, answers } = props;
  const [initial] = useState(() => answersAsText(record, answers));
  const [values, setValues] = useState<Record<string, string>>(initial.values);
  const jsonKeys = record.fields.filter((f) => f.json).map((f) => f.key);
  const idOf = (key: string) => `record-${record.index}-${key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const answerKeys = answers ? [answers.chosen, answers.rejected] : [];
  const shownKeys = [...record.fields.map((f) => f.key), ...answerKeys.filter((k) => Object.hasOwn(values, k) && !record.fields.some((f) => f.key === k))];
  const fieldError = error && shownKeys.includes(error.field) ? error : null;
  const errorText = (key: string) =>
    fieldError?.field === key && (
      <p className="field-error" role="alert" id={`${idOf(key)}-error`} data-testid={`error-field-${key}`}>
        {fieldError.message}
      </p>
    );
  const answerBox = (key: string, label: string, tone: string) =>
    Object.hasOwn(values, key) && (
      <div key={key} className={`rounded-md border p-2 ${tone}`} data-testid={`answer-${key}`}>
        <label className="field-label" htmlFor={idOf(key)}>
          {label} <span className="font-mono text-xs font-normal text-slate-500">{key}</span>
        </label>
        <textarea
          id={idOf(key)}
          className={`field-input ${fieldError?.field === key ? "border-red-500" : ""}`}
          rows={Math.min(10, Math.max(3, Math.ceil((values[key] ?? "").length / 60)))}
          value={values[key] ?? ""}
          aria-invalid={fieldError?.field === key}
          aria-describedby={fieldError?.field === key ? `${idOf(key)}-error` : undefined}
          onChange={(e) => setValues((v) => ({ ...v, [key]: e.target.value }))}
        />
        {errorText(key)}
      </div>
    );

  return (
    <form
      className="space-y-2"
      data-testid="record-editor"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        props.onSave(answersFromText(values, initial.messages, answers?.contentKey ?? null), jsonKeys);
      }}
    >
      <h3 className="text-sm font-semibold">{props.title}</h3>
      {props.note && (
        <p className="text-xs text-slate-600" data-testid="json-only">
          {props.note}
        </p>
      )}
      {record.fields.filter((f) => !answerKeys.includes(f.key)).map((f) => (
        <div key={f.key}>
          <label className="field-label font-mono" htmlFor={idOf(f.key)}>
            {f.key}
            {f.json && <span className="ml-2 font-sans text-xs font-normal text-slate-500">{t("datasets.editor.json")}</span>}
          </label>
          {f.key === props.ktoTag ? (
            <select
              id={idOf(f.key)}
              className={`field-input ${fieldError?.field === f.key ? "border-red-500" : ""}`}
              value={values[f.key] ?? ""}
              aria-invalid={fieldError?.field === f.key}
              onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))}
            >
              {!["true", "false"].includes(values[f.key] ?? "") && <option value={values[f.key] ?? ""}>{values[f.key]}</option>}
              <option value="true">{t("datasets.kto.desirable")}</option>
              <option value="false">{t("datasets.kto.undesirable")}</option>
            </select>
          ) : (
          <textarea
            id={idOf(f.key)}
            className={`field-input ${f.json ? "font-mono text-xs" : ""} ${fieldError?.field === f.key ? "border-red-500" : ""}`}
            rows={f.json ? 6 : Math.min(8, Math.max(2, Math.ceil(f.value.length / 90)))}
            value={values[f.key] ?? ""}
            aria-invalid={fieldError?.field === f.key}
            aria-describedby={fieldError?.field === f.key ? `${idOf(f.key)}-error` : undefined}
            onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))}
          />
          )}
          {errorText(f.key)}
        </div>
      ))}
      {answers && (
        <div className="grid gap-3 md:grid-cols-2" data-testid="pair-answers">
          {answerBox(answers.chosen, t("datasets.pair.chosen"), "border-emerald-200 bg-emerald-50/40")}
          {answerBox(answers.rejected, t("datasets.pair.rejected"), "border-rose-200 bg-rose-50/40")}
        </div>
      )}
      {error && !fieldError && (
        <p className="field-error" role="alert" data-testid="error-record">
          {error.message}
        </p>
      )}
      <EditorActions saving={props.saving} onCancel={props.onCancel} switchLabel={t("datasets.turns.asTurns")} onSwitch={props.onTurns} />
    </form>
  );
}
