"use client";
// One record's fields as controlled text areas (React 19 form actions would reset uncontrolled
// ones, losing what the user typed when the server refuses the save). Lists such as history or
// messages are edited as JSON (conversation records have TurnEditor; this is their fallback).
// A refusal is shown at the field it names.
import { useState } from "react";
import { useT } from "@/lib/i18n/client";
import { EditorActions } from "./EditorActions";
import type { EditableRecord } from "@/lib/datasets/edit";

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
}) {
  const t = useT();
  const { record, error } = props;
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(record.fields.map((f) => [f.key, f.value])));
  const jsonKeys = record.fields.filter((f) => f.json).map((f) => f.key);
  const idOf = (key: string) => `record-${record.index}-${key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const fieldError = error && record.fields.some((f) => f.key === error.field) ? error : null;

  return (
    <form
      className="space-y-2"
      data-testid="record-editor"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        props.onSave(values, jsonKeys);
      }}
    >
      <h3 className="text-sm font-semibold">{props.title}</h3>
      {props.note && (
        <p className="text-xs text-slate-600" data-testid="json-only">
          {props.note}
        </p>
      )}
      {record.fields.map((f) => (
        <div key={f.key}>
          <label className="field-label font-mono" htmlFor={idOf(f.key)}>
            {f.key}
            {f.json && <span className="ml-2 font-sans text-xs font-normal text-slate-500">{t("datasets.editor.json")}</span>}
          </label>
          <textarea
            id={idOf(f.key)}
            className={`field-input ${f.json ? "font-mono text-xs" : ""} ${fieldError?.field === f.key ? "border-red-500" : ""}`}
            rows={f.json ? 6 : Math.min(8, Math.max(2, Math.ceil(f.value.length / 90)))}
            value={values[f.key] ?? ""}
            aria-invalid={fieldError?.field === f.key}
            aria-describedby={fieldError?.field === f.key ? `${idOf(f.key)}-error` : undefined}
            onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))}
          />
          {fieldError?.field === f.key && (
            <p className="field-error" role="alert" id={`${idOf(f.key)}-error`} data-testid={`error-field-${f.key}`}>
              {fieldError.message}
            </p>
          )}
        </div>
      ))}
      {error && !fieldError && (
        <p className="field-error" role="alert" data-testid="error-record">
          {error.message}
        </p>
      )}
      <EditorActions saving={props.saving} onCancel={props.onCancel} switchLabel={t("datasets.turns.asTurns")} onSwitch={props.onTurns} />
    </form>
  );
}
