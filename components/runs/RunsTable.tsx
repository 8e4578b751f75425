"use client";
// The Runs table: pick runs to compare, clone a run into the Train form, delete a finished run
// after a confirmation dialog (a native <dialog>: focus moves into it, Escape closes it).
import { useEffect, useRef, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { RunRowView, RunsHeader } from "./RunRow";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import type { RunRow } from "@/lib/jobs/list";
import { COMPARE_MAX, COMPARE_MIN } from "@/lib/jobs/compare-ids";

export function RunsTable({ rows }: { rows: (RunRow & { started: string | null })[] }) {
  const t = useT();
  const router = useRouter();
  const [selected, setSelected] = useState<number[]>([]);
  const [pendingDelete, setPendingDelete] = useState<RunRow | null>(null);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  const dialogRef = useRef<HTMLDialogElement>(null);

  const toggle = (id: number, on: boolean) => setSelected((s) => (on ? [...s.filter((x) => x !== id), id] : s.filter((x) => x !== id)));
  const canCompare = selected.length >= COMPARE_MIN && selected.length <= COMPARE_MAX;

  function askDelete(row: RunRow) {
    setPendingDelete(row);
    setMessage(null);
  }

  // Open the dialog once its content (and the autofocused Cancel button) has rendered.
  useEffect(() => {
    const d = dialogRef.current;
    if (pendingDelete && d && !d.open) d.showModal();
  }, [pendingDelete]);

  async function confirmDelete() {
    const row = pendingDelete;
    if (!row) return;
    setBusy(true);
    try {
      const res = await fetch(`/api/runs/${row.id}`, { method: "DELETE" });
      const body = (await res.json().catch(() => ({}))) as { error?: string; state?: string; status?: string; keptDir?: string | null; removedOutputs?: boolean };
      if (res.ok) {
        setMessage({
          text: body.keptDir ? t("runs.list.deletedKept", { number: row.number, dir: body.keptDir }) : t("runs.list.deleted", { number: row.number }),
          error: false,
        });
        setSelected((s) => s.filter((x) => x !== row.id));
        router.refresh();
      } else if (body.state === "not_finished" && body.status) {
        setMessage({ text: t("runs.list.deleteNotFinished", { number: row.number, status: t(`runs.status.${body.status}` as MessageKey) }), error: true });
      } else {
        setMessage({ text: t("runs.list.deleteFailed", { number: row.number, error: body.error ?? `HTTP ${res.status}` }), error: true });
      }
    } finally {
      setBusy(false);
      dialogRef.current?.close();
      setPendingDelete(null);
    }
  }

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-3">
        <button
          type="button"
          className="btn btn-secondary"
          disabled={!canCompare}
          onClick={() => router.push(`/compare?ids=${selected.join(",")}`)}
          data-testid="compare-selected"
          aria-describedby="compare-hint"
        >
          {t("runs.list.compare", { n: selected.length })}
        </button>
        <span id="compare-hint" className="text-xs text-slate-600">
          {t("runs.list.compareHint")}
        </span>
      </div>
      <p aria-live="polite" role="status" data-testid="runs-message" className={message?.error ? "text-sm text-red-700" : "text-sm text-emerald-800"}>
        {message?.text}
      </p>
      {/* relative: the sr-only header texts (absolutely positioned) stay inside this scroller on a narrow window. */}
      <div className="card relative overflow-x-auto p-0">
        <table className="w-full text-left text-sm">
          <RunsHeader />
          <tbody>
            {rows.map((r) => (
              <RunRowView key={r.id} row={r} selected={selected.includes(r.id)} onToggle={(on) => toggle(r.id, on)} onDelete={() => askDelete(r)} />
            ))}
          </tbody>
        </table>
      </div>
      <dialog
        ref={dialogRef}
        aria-labelledby="delete-title"
        className="m-auto max-w-md rounded-lg p-5 shadow-xl backdrop:bg-slate-900/40"
        onClose={() => setPendingDelete(null)}
        data-testid="delete-dialog"
      >
        {pendingDelete && (
          <div className="space-y-3">
            <h2 id="delete-title" className="font-semibold">
              {t("runs.list.deleteTitle", { number: pendingDelete.number })}
            </h2>
            <p className="text-sm text-slate-700">{t("runs.list.deleteBody", { name: pendingDelete.name })}</p>
            <div className="flex justify-end gap-2">
              <button type="button" className="btn btn-secondary" onClick={() => dialogRef.current?.close()} autoFocus>
                {t("runs.list.cancel")}
              </button>
              <button type="button" className="btn btn-danger" onClick={confirmDelete} disabled={busy} data-testid="confirm-delete">
                {t("runs.list.deleteConfirm")}
              </button>
            </div>
          </div>
        )}
      </dialog>
    </div>
  );
}
