"use client";
// Abort a running run (after a confirmation that names it); Resume a cancelled or failed one from its last checkpoint; download the
// adapter of a finished one. Errors from the server are shown next to the buttons.
import { useState } from "react";
import type { JobStatusUpdate } from "@/lib/schemas/socket";
import { jobStatusUpdate } from "@/lib/schemas/socket";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { ConfirmDialog } from "@/components/ConfirmDialog";

async function errorOf(res: Response): Promise<{ error: string; state?: string; status?: string }> {
  const body = (await res.json().catch(() => ({}))) as { error?: string; state?: string; status?: string };
  return { error: body.error ?? `HTTP ${res.status}`, state: body.state, status: body.status };
}

export function RunActions({
  jobId,
  number,
  name,
  job,
  checkpoint,
  onStatus,
}: {
  jobId: number;
  /** What the page calls the run (jobNumber) and its name, shown in the Abort confirmation. */
  number: number;
  name: string;
  job: JobStatusUpdate;
  /** Name of the newest complete checkpoint folder (e.g. checkpoint-6), or null. */
  checkpoint: string | null;
  onStatus: (s: JobStatusUpdate) => void;
}) {
  const t = useT();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmAbort, setConfirmAbort] = useState(false);
  const active = job.status === "running" || job.status === "queued";
  const resumable = job.status === "cancelled" || job.status === "failed";

  async function abort() {
    setError(null);
    setBusy(true);
    try {
      const res = await fetch(`/api/jobs/${jobId}/cancel`, { method: "POST" });
      if (!res.ok) setError((await errorOf(res)).error);
    } finally {
      setBusy(false);
      setConfirmAbort(false);
    }
  }

  async function resume() {
    setError(null);
    setBusy(true);
    try {
      const res = await fetch(`/api/runs/${jobId}/resume`, { method: "POST" });
      if (!res.ok) {
        const e = await errorOf(res);
        setError(
          e.state === "not_resumable" && e.status
            ? t("runs.run.resumeNotResumable", { status: t(`runs.status.${e.status}` as MessageKey) })
            : t("runs.run.resumeFailed", { error: e.error }),
        );
        return;
      }
      const body = (await res.json()) as { job: unknown };
      const parsed = jobStatusUpdate.safeParse(body.job);
      if (parsed.success) onStatus(parsed.data);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="flex flex-col items-end gap-1">
      <div className="flex flex-wrap items-center gap-2">
        {active && (
          <button className="btn btn-danger" onClick={() => setConfirmAbort(true)} disabled={job.cancelRequested} data-testid="abort">
            {t("runs.run.abort")}
          </button>
        )}
        {resumable && (
          <button className="btn btn-primary" onClick={resume} disabled={busy} aria-describedby="resume-note" data-testid="resume">
            {t("runs.run.resume")}
          </button>
        )}
        {job.status === "succeeded" && (
          <a className="btn btn-secondary" href={`/api/runs/${jobId}/adapter`} download data-testid="download-adapter">
            {t("runs.run.download")}
          </a>
        )}
      </div>
      {resumable && (
        <p id="resume-note" className="text-xs text-slate-600" data-testid="resume-note">
          {checkpoint ? t("runs.run.resumeFrom", { checkpoint }) : t("runs.run.resumeNoCheckpoint")}
        </p>
      )}
      <ConfirmDialog
        open={confirmAbort && active}
        title={t("runs.run.abortTitle", { id: number })}
        body={t("runs.run.abortBody", { name })}
        confirmLabel={t("runs.run.abortConfirm")}
        cancelLabel={t("runs.run.abortCancel")}
        busy={busy}
        onConfirm={abort}
        onClose={() => setConfirmAbort(false)}
        testId="abort-dialog"
      />
      {error && (
        <p role="alert" className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}
