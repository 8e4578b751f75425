"use client";
// The settings that differ between the compared runs, one column per run (in its chart colour).
import { useT } from "@/lib/i18n/client";
import type { ConfigDiff } from "@/lib/jobs/config-diff";

export function ConfigDiffTable({ runs, diff }: { runs: { id: number; number: number; name: string; color: string }[]; diff: ConfigDiff }) {
  const t = useT();
  if (diff.rows.length === 0) return <p className="text-sm text-slate-600" data-testid="config-diff-none">{t("runs.compare.paramsNone")}</p>;
  return (
    <div className="space-y-2">
      <div className="relative overflow-x-auto">
        <table className="w-full text-left text-sm" data-testid="config-diff" data-rows={diff.rows.length}>
          <thead className="text-slate-600">
            <tr>
              <th className="p-2">{t("runs.compare.param")}</th>
              {runs.map((r) => (
                <th key={r.id} className="p-2">
                  <span className="mr-1 inline-block h-2.5 w-2.5 rounded-full" style={{ background: r.color }} aria-hidden />#{r.number} {r.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {diff.rows.map((row) => (
              <tr key={row.key} className="border-t border-slate-100" data-testid={`diff-${row.key}`}>
                <th scope="row" className="p-2 font-mono text-xs font-normal">
                  {row.key}
                </th>
                {row.values.map((v, i) => (
                  <td key={runs[i].id} className="p-2 tabular-nums">
                    {v ?? <span className="text-slate-500">{t("runs.compare.unset")}</span>}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {diff.same > 0 && <p className="text-xs text-slate-600">{t("runs.compare.paramsSame", { n: diff.same })}</p>}
    </div>
  );
}
