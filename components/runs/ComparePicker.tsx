"use client";
// Pick 2–6 runs for the Compare page; the selection lives in the URL (?ids=…) so it can be shared.
import { useState } from "react";
import { useRouter } from "next/navigation";
import { StatusBadge } from "@/components/StatusBadge";
import { useT } from "@/lib/i18n/client";
import { COMPARE_MAX, COMPARE_MIN } from "@/lib/jobs/compare-ids";
import { jobNumber } from "@/lib/jobs/job-number";

export function ComparePicker({ runs, initial }: { runs: { id: number; seq: number | null; name: string; status: string }[]; initial: number[] }) {
  const t = useT();
  const router = useRouter();
  const [selected, setSelected] = useState<number[]>(initial);
  const ok = selected.length >= COMPARE_MIN && selected.length <= COMPARE_MAX;
  return (
    <form
      className="card space-y-2"
      onSubmit={(e) => {
        e.preventDefault();
        if (ok) router.push(`/compare?ids=${selected.join(",")}`);
      }}
    >
      <fieldset>
        <legend className="text-sm font-medium text-slate-700">{t("runs.compare.pick")}</legend>
        <p id="compare-pick-hint" className="text-xs text-slate-600">
          {t("runs.compare.pickHint")}
        </p>
        <ul className="mt-2 grid max-h-48 grid-cols-1 gap-1 overflow-y-auto sm:grid-cols-2 lg:grid-cols-3">
          {runs.map((r) => (
            <li key={r.id}>
              <label className="flex items-center gap-2 text-sm">
                <input
                  type="checkbox"
                  checked={selected.includes(r.id)}
                  onChange={(e) => setSelected((s) => (e.target.checked ? [...s.filter((x) => x !== r.id), r.id] : s.filter((x) => x !== r.id)))}
                  data-testid={`pick-${r.id}`}
                />
                <span className="truncate">
                  #{jobNumber(r)} {r.name}
                </span>
                <StatusBadge status={r.status} testId={`pick-status-${r.id}`} />
              </label>
            </li>
          ))}
        </ul>
      </fieldset>
      <button type="submit" className="btn btn-primary" disabled={!ok} aria-describedby="compare-pick-hint" data-testid="compare-submit">
        {t("runs.compare.submit")}
      </button>
    </form>
  );
}
