// Which registered datasets a form may select, and what it says about each: the one rule the
// Train and Evaluate forms share. A template that still holds {{name}}/{{author}} placeholders
// would train or score against the placeholders themselves, and an unreadable file has nothing
// to use, so both are shown but can be neither chosen nor pre-selected.
import type { TFunction } from "@/lib/i18n/translate";
import type { DatasetKind } from "@/lib/schemas/dataset";

export interface DatasetChoiceInput {
  name: string;
  records: number | null;
  hasPlaceholders: boolean;
  error: string | null;
  /** What it trains (lib/datasets/kind.ts); absent or null (not known) counts as sft. */
  kind?: DatasetKind | null;
}

export function isSelectableDataset(d: DatasetChoiceInput): boolean {
  return !d.hasPlaceholders && d.error === null;
}

/** The pre-selected datasets: the newest selectable supervised one (the copy just filled in), or none. */
export function defaultDatasetSelection(datasets: DatasetChoiceInput[]): string[] {
  const last = datasets.filter((d) => isSelectableDataset(d) && (d.kind ?? "sft") === "sft").at(-1);
  return last ? [last.name] : [];
}

/** The note beside a dataset's checkbox: why it cannot be chosen, or its record count. */
export function datasetNote(d: DatasetChoiceInput, t: TFunction): string {
  if (d.hasPlaceholders) return t("train.dataset.placeholders");
  if (d.error !== null) return t("train.dataset.broken", { error: d.error });
  return d.records === null ? t("train.dataset.unknown") : t("train.dataset.records", { n: d.records.toLocaleString("en") });
}
