"use client";
// A job's status as a coloured pill. The text is translated; data-status keeps the queue's name
// for tests and styles.
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";

const STYLES: Record<string, string> = {
  queued: "bg-slate-100 text-slate-700",
  running: "bg-blue-100 text-blue-800",
  succeeded: "bg-emerald-100 text-emerald-800",
  failed: "bg-red-100 text-red-800",
  cancelled: "bg-amber-100 text-amber-900",
};

export function StatusBadge({ status, testId = "run-status" }: { status: string; testId?: string }) {
  const t = useT();
  const label = status in STYLES ? t(`runs.status.${status}` as MessageKey) : status;
  return (
    <span data-testid={testId} data-status={status} className={`rounded-full px-2.5 py-0.5 text-xs font-semibold whitespace-nowrap ${STYLES[status] ?? STYLES.queued}`}>
      {label}
    </span>
  );
}
