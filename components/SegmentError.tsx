"use client";
// Error state of a route segment (its error.tsx): what failed, the message, and a retry that
// re-renders the segment. Focus moves to the message so keyboard and screen-reader users land on it.
import { useEffect, useRef } from "react";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { whatKey } from "./segment-names";

export function SegmentError({ error, reset, what }: { error: Error & { digest?: string }; reset: () => void; what: string }) {
  const t = useT();
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  const key = whatKey(what);
  return (
    <div role="alert" className="card border-red-200 bg-red-50">
      <h2 ref={ref} tabIndex={-1} className="font-semibold text-red-800 focus:outline-none">
        {key ? t("common.error.what", { what: t(key as MessageKey) }) : t("common.error.title")}
      </h2>
      <p className="mt-1 break-words text-sm text-red-800">{error.message || t("common.error.unexpected")}</p>
      {error.digest && <p className="mt-1 text-xs text-red-700">{t("common.error.digest", { digest: error.digest })}</p>}
      <button type="button" className="btn btn-secondary mt-3" onClick={reset}>
        {t("common.error.retry")}
      </button>
    </div>
  );
}
