"use client";
// Loading state of a route segment (its loading.tsx), in the user's language.
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { whatKey } from "./segment-names";

export function Loading({ what }: { what: string }) {
  const t = useT();
  const key = whatKey(what);
  return (
    <div className="animate-pulse text-sm text-slate-600" role="status" aria-live="polite" aria-busy="true">
      {key ? t("common.loading.what", { what: t(key as MessageKey) }) : t("common.loading")}
    </div>
  );
}
