"use client";
// The message box under the conversation: Send (or Stop while answers stream) and Clear.
import { useT } from "@/lib/i18n/client";

export function Composer(props: {
  ready: boolean;
  input: string;
  onInput: (s: string) => void;
  onSend: () => void;
  onStop: () => void;
  onClear: () => void;
  streaming: boolean;
}) {
  const { ready, input, streaming } = props;
  const t = useT();
  return (
    <form
      className="mt-3 flex gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSend();
      }}
    >
      <input
        className="field-input mt-0"
        aria-label={t("chat.input.label")}
        placeholder={ready ? t("chat.input.placeholder") : t("chat.input.placeholderIdle")}
        value={input}
        onChange={(e) => props.onInput(e.target.value)}
        disabled={!ready}
      />
      {streaming ? (
        <button type="button" className="btn btn-secondary" onClick={props.onStop}>{t("chat.input.stop")}</button>
      ) : (
        <button type="submit" className="btn btn-primary" disabled={!ready || !input.trim()}>{t("chat.input.send")}</button>
      )}
      <button type="button" className="btn btn-secondary" onClick={props.onClear} disabled={streaming}>
        {t("chat.input.clear")}
      </button>
    </form>
  );
}
