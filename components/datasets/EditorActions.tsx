"use client";
// The button row under a record editor (field by field, turn by turn or raw JSON): save, cancel and,
// where the record can be shown another way, the switch to that view.
import { useT } from "@/lib/i18n/client";

export function EditorActions(props: { saving: boolean; onCancel: () => void; switchLabel?: string; onSwitch?: () => void }) {
  const t = useT();
  return (
    <div className="flex flex-wrap gap-2">
      <button type="submit" className="btn btn-primary" disabled={props.saving}>
        {props.saving ? t("datasets.editor.saving") : t("datasets.editor.save")}
      </button>
      <button type="button" className="btn btn-secondary" onClick={props.onCancel}>
        {t("datasets.editor.cancel")}
      </button>
      {props.onSwitch && props.switchLabel && (
        <button type="button" className="btn btn-secondary ml-auto" onClick={props.onSwitch}>
          {props.switchLabel}
        </button>
      )}
    </div>
  );
}
