"use client";
// A confirmation in a native modal <dialog>: focus moves into it (onto the safe choice), Escape
// or the cancel button closes it, and nothing happens until the confirm button is pressed.
import { useEffect, useId, useRef } from "react";

export function ConfirmDialog({
  open,
  title,
  body,
  confirmLabel,
  cancelLabel,
  busy = false,
  onConfirm,
  onClose,
  testId,
}: {
  open: boolean;
  title: string;
  body: string;
  confirmLabel: string;
  cancelLabel: string;
  busy?: boolean;
  onConfirm: () => void;
  /** Called when the dialog closes without confirming (Escape, the cancel button). */
  onClose: () => void;
  testId: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} className="m-auto max-w-md rounded-lg p-5 shadow-xl backdrop:bg-slate-900/40" onClose={onClose} data-testid={testId}>
      {open && (
        <div className="space-y-3">
          <h2 id={titleId} className="font-semibold">
            {title}
          </h2>
          <p className="text-sm text-slate-700">{body}</p>
          <div className="flex justify-end gap-2">
            <button type="button" className="btn btn-secondary" onClick={() => ref.current?.close()} autoFocus data-testid={`${testId}-cancel`}>
              {cancelLabel}
            </button>
            <button type="button" className="btn btn-danger" onClick={onConfirm} disabled={busy} data-testid={`${testId}-confirm`}>
              {confirmLabel}
            </button>
          </div>
        </div>
      )}
    </dialog>
  );
}
