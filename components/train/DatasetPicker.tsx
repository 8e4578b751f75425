"use client";
// Datasets: several can be mixed in one run; each shows its record count, and templates that
// still hold {{placeholders}} or files that cannot be read are shown but not selectable.
import { useT } from "@/lib/i18n/client";
import { datasetNote, isSelectableDataset } from "@/lib/datasets/choice";
import type { Stage } from "@/lib/schemas/run-config";
import type { DatasetOption, FieldErrors } from "./types";
import { fitsStage } from "@/lib/datasets/stage-choice";

export function DatasetPicker({
  datasets,
  selected,
  onChange,
  errors,
  stage,
}: {
  stage: Stage;
  datasets: DatasetOption[];
  selected: string[];
  onChange: (names: string[]) => void;
  errors: FieldErrors;
}) {
  const t = useT();
  // Selected names no longer registered (from a loaded or cloned config) stay visible, so nothing
  // is dropped without the user seeing it; Start then names them in the error.
  const missing = selected.filter((s) => !datasets.some((d) => d.name === s));
  const all: DatasetOption[] = [...datasets, ...missing.map((name) => ({ name, records: null, hasPlaceholders: false, error: "not registered", kind: null }))];
  const total = datasets.filter((d) => selected.includes(d.name)).reduce((n, d) => n + (d.records ?? 0), 0);
  const toggle = (name: string, on: boolean) => onChange(on ? [...selected, name] : selected.filter((x) => x !== name));
  return (
    <fieldset aria-describedby={errors.dataset ? "dataset-error" : "dataset-total"}>
      <legend className="field-label">{t("train.dataset.legend")}</legend>
      {all.length === 0 && <p className="mt-1 text-sm text-slate-600">{t("train.dataset.none")}</p>}
      <ul className="mt-1 grid gap-1 sm:grid-cols-2">
        {all.map((d) => {
          const misfit = !fitsStage(d, stage);
          const unusable = !isSelectableDataset(d) || misfit;
          const id = `dataset-${d.name.replace(/\s/g, "_")}`;
          const note = misfit && isSelectableDataset(d) ? t("train.dataset.misfit", { kind: d.kind ?? "?", stage }) : datasetNote(d, t);
          return (
            <li key={d.name} className="flex min-w-0 items-center gap-2 text-sm" data-kind={d.kind ?? ""} data-fits={!misfit}>
              <input
                id={id}
                type="checkbox"
                name="dataset"
                value={d.name}
                checked={selected.includes(d.name)}
                disabled={unusable && !selected.includes(d.name)}
                onChange={(e) => toggle(d.name, e.target.checked)}
              />
              <label htmlFor={id} className={`min-w-0 break-all ${unusable ? "text-slate-500" : ""}`}>
                {d.name} <span className="text-xs text-slate-600">({note})</span>
              </label>
            </li>
          );
        })}
      </ul>
      {errors.dataset ? (
        <p id="dataset-error" className="field-error" role="alert" data-testid="error-dataset">
          {errors.dataset}
        </p>
      ) : (
        <p id="dataset-total" className="mt-1 text-xs text-slate-600" data-testid="dataset-total">
          {t("train.dataset.total", { n: total.toLocaleString("en"), k: selected.length })}
        </p>
      )}
    </fieldset>
  );
}
