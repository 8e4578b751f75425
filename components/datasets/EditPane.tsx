"use client";
// Which editor a record gets: conversation records turn by turn (TurnEditor), with "Edit as JSON"
// as the fallback, and JSON only for a record the turn editor cannot represent (the reason is
// shown); alpaca records field by field, as before.
import { useMemo, useState } from "react";
import { useT } from "@/lib/i18n/client";
import type { AnswerLayout, EditableRecord } from "@/lib/datasets/edit";
import { recordToTurns, type ConversationLayout, type TurnsDoc } from "@/lib/datasets/turns";
import { RecordEditor, type EditorError } from "./RecordEditor";
import { TurnEditor } from "./TurnEditor";

export function EditPane(props: {
  record: EditableRecord;
  conversation: ConversationLayout | null;
  title: string;
  saving: boolean;
  error: EditorError | null;
  onSaveFields: (fields: Record<string, string>, jsonKeys: string[]) => void;
  onSaveTurns: (doc: TurnsDoc) => void;
  onCancel: () => void;
  /** Switching editors drops the other one's refusal, which would point at the wrong inputs. */
  onSwitch: () => void;
  answers?: AnswerLayout | null;
  ktoTag?: string | null;
}) {
  const t = useT();
  const { record, conversation } = props;
  const turns = useMemo(() => (conversation === null ? null : recordToTurns(JSON.parse(record.expected) as unknown, conversation)), [record.expected, conversation]);
  const [json, setJson] = useState(false);

  if (conversation !== null && turns?.ok && !json) {
    return (
      <TurnEditor
        index={record.index}
        layout={conversation}
        doc={turns.doc}
        title={props.title}
        saving={props.saving}
        error={props.error}
        onSave={props.onSaveTurns}
        onCancel={props.onCancel}
        onJson={() => {
          setJson(true);
          props.onSwitch();
        }}
      />
    );
  }
  return (
    <RecordEditor
      record={record}
      title={props.title}
      saving={props.saving}
      error={props.error}
      onSave={props.onSaveFields}
      onCancel={props.onCancel}
      answers={props.answers ?? null}
      ktoTag={props.ktoTag ?? null}
      {...(turns && !turns.ok ? { note: t("datasets.turns.jsonOnly", { reason: turns.reason }) } : {})}
      {...(turns?.ok
        ? {
            onTurns: () => {
              setJson(false);
              props.onSwitch();
            },
          }
        : {})}
    />
  );
}
