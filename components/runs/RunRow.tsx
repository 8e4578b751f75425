"use client";
// One row of the Runs table and the table's header: selection for Compare, the run's facts,
// Clone, and Delete for a finished run.
import Link from "next/link";
import { StatusBadge } from "@/components/StatusBadge";
import { formatDuration } from "@/lib/format/time";
import { isFinalStatus } from "@/lib/queue/types";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import type { RunRow } from "@/lib/jobs/list";

export function RunsHeader() {
  const t = useT();
  return (
    <thead className="text-slate-600">
      <tr>
        <th className="p-2">
          <span className="sr-only">{t("runs.list.col.select")}</span>
        </th>
        <th className="p-2">#</th>
        <th className="p-2">{t("runs.list.col.name")}</th>
        <th className="p-2">{t("runs.list.col.status")}</th>
        <th className="p-2">{t("runs.list.col.model")}</th>
        <th className="p-2">{t("runs.list.col.dataset")}</th>
        <th className="p-2">{t("runs.list.col.method")}</th>
        <th className="p-2">{t("runs.list.col.started")}</th>
        <th className="p-2">{t("runs.list.col.duration")}</th>
        <th className="p-2">{t("runs.list.col.finalLoss")}</th>
        <th className="p-2">
          <span className="sr-only">{t("runs.list.col.actions")}</span>
        </th>
      </tr>
    </thead>
  );
}

export function RunRowView(props: {
  row: RunRow & { started: string | null };
  selected: boolean;
  onToggle: (on: boolean) => void;
  onDelete: () => void;
}) {
  const { row: r, selected, onToggle, onDelete } = props;
  const t = useT();
  const none = t("common.none");
  return (
    <tr className="border-t border-slate-100" data-testid={`run-row-${r.id}`}>
      <td className="p-2">
        <input
          type="checkbox"
          checked={selected}
          onChange={(e) => onToggle(e.target.checked)}
          aria-label={t("runs.list.selectRun", { number: r.number, name: r.name })}
          data-testid={`select-${r.id}`}
        />
      </td>
      <td className="p-2 tabular-nums">{r.number}</td>
      <td className="max-w-56 truncate p-2">
        <Link href={`/runs/${r.id}`} className="text-indigo-700 hover:underline" title={r.name}>
          {r.name}
        </Link>
      </td>
      <td className="p-2">
        <StatusBadge status={r.status} testId={`status-${r.id}`} />
      </td>
      <td className="p-2">{r.model}</td>
      <td className="p-2">{r.datasets}</td>
      <td className="p-2">
        {["lora", "freeze", "full"].includes(r.method) ? t(`runs.method.${r.method}` as MessageKey) : r.method}
        {r.numGpus >= 1 && (
          <span className="ml-1.5 whitespace-nowrap text-xs text-slate-600" data-testid={`gpus-${r.id}`}>
            · {r.numGpus === 1 ? t("runs.gpus.one") : t("runs.gpus.many", { n: r.numGpus })}
          </span>
        )}
      </td>
      <td className="p-2 whitespace-nowrap">{r.started ?? none}</td>
      <td className="p-2 whitespace-nowrap">{formatDuration(r.durationS)}</td>
      <td className="p-2 tabular-nums" data-testid={`final-loss-${r.id}`}>
        {r.finalLoss?.toFixed(4) ?? none}
      </td>
      <td className="p-2 whitespace-nowrap">
        <Link href={`/train?from=${r.id}`} className="text-indigo-700 hover:underline" aria-label={t("runs.list.cloneLabel", { number: r.number })} data-testid={`clone-${r.id}`}>
          {t("runs.list.clone")}
        </Link>
        {isFinalStatus(r.status) && (
          <button
            type="button"
            className="ml-3 text-red-700 hover:underline"
            onClick={onDelete}
            aria-label={t("runs.list.deleteLabel", { number: r.number })}
            data-testid={`delete-${r.id}`}
          >
            {t("runs.list.delete")}
          </button>
        )}
      </td>
    </tr>
  );
}
