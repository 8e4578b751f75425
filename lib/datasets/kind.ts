// What a dataset trains, from its dataset_info.json entry alone (no file read), so a form can
// filter the datasets that fit a training stage. The rule is the table DATASET_KIND_RULES
// (run-config.ts), which the trainer reads too (generated into its contracts/enums.py).
import { DATASET_KIND_RULES, DEFAULT_DATASET_KIND, datasetFitsStage, type DatasetKind, type DatasetKindRule, type Stage } from "../schemas/run-config";

/** The part of an entry the kind depends on (a full DatasetEntry fits). */
export interface KindSource {
  formatting?: string | undefined;
  ranking?: boolean | undefined;
  columns?: Readonly<Record<string, string>> | undefined;
}

const named = (columns: KindSource["columns"], key: string) => columns !== undefined && Object.hasOwn(columns, key) && columns[key] !== "";

function matches(rule: DatasetKindRule, entry: KindSource): boolean {
  if (rule.ranking === true && entry.ranking !== true) return false;
  if (rule.column !== undefined && !named(entry.columns, rule.column)) return false;
  if (rule.formatting !== undefined && (entry.formatting ?? "alpaca") !== rule.formatting) return false;
  return !(rule.without_columns ?? []).some((k) => named(entry.columns, k));
}

export function datasetKind(entry: KindSource): DatasetKind {
  return DATASET_KIND_RULES.find((rule) => matches(rule, entry))?.kind ?? DEFAULT_DATASET_KIND;
}

/** Whether a dataset of this entry can train `stage` (run-config.ts STAGE_DATASET_KINDS). */
export function fitsStage(entry: KindSource, stage: Stage): boolean {
  return datasetFitsStage(datasetKind(entry), stage);
}
