"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useT } from "@/lib/i18n/client";

export function AbortButton({ jobId }: { jobId: number }) {
  const t = useT();
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-secondary"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        await fetch(`/api/jobs/${jobId}/cancel`, { method: "POST" }).catch(() => null);
        router.refresh();
      }}
    >
      {t("evaluate.jobs.cancel")}
    </button>
  );
}
