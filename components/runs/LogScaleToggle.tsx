"use client";
// The "Log scale" checkbox above a loss chart (the choice is stored by useLogScale).
import { useT } from "@/lib/i18n/client";

export function LogScaleToggle({ on, onChange }: { on: boolean; onChange: (on: boolean) => void }) {
  const t = useT();
  return (
    <label className="flex items-center gap-2 text-slate-600">
      <input type="checkbox" checked={on} onChange={(e) => onChange(e.target.checked)} className="accent-indigo-600" data-testid="log-scale" />
      {t("runs.chart.logScale")}
    </label>
  );
}
