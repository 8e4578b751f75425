"use client";
// The shared SegmentError is English-only; this one speaks the user's language.
import { useT } from "@/lib/i18n/client";

export default function ErrorBoundary({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  const t = useT();
  return (
    <div role="alert" className="card border-red-200 bg-red-50">
      <h2 className="font-semibold text-red-800">{t("datasets.error")}</h2>
      <p className="mt-1 text-sm text-red-700">{error.message || t("common.error.title")}</p>
      <button className="btn btn-secondary mt-3" onClick={reset}>
        {t("common.error.retry")}
      </button>
    </div>
  );
}
