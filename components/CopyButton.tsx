"use client";
// Copies a text to the clipboard; without clipboard permission it selects `selectId`'s text so
// that Ctrl+C copies it.
import { useState } from "react";
import { useT } from "@/lib/i18n/client";

export function CopyButton({ text, label, selectId }: { text: string; label?: string; selectId?: string }) {
  const t = useT();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      const el = selectId ? document.getElementById(selectId) : null;
      if (el) window.getSelection()?.selectAllChildren(el);
    }
  };
  return (
    <button type="button" className="btn btn-secondary px-2 py-0.5 text-xs" onClick={copy} aria-label={label ? `${t("settings.api.copy")}: ${label}` : undefined}>
      <span aria-live="polite">{copied ? t("settings.api.copied") : t("settings.api.copy")}</span>
    </button>
  );
}
