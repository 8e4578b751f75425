// What a dataset trains, from its dataset_info.json entry alone (no file read), so a form can
// filter the datasets that fit a training stage. Follows LLaMA-Factory's conventions:
// `ranking: true` marks preference pairs, `columns.kto_tag` KTO's tagged answers, and a
// pre-training set is an alpaca entry naming only its text column (`columns.text`, or LLaMA-Factory's
// own `columns: {"prompt": "text"}` alone).
import { datasetFitsStage, type DatasetKind, type Stage } from "../schemas/run-config";

/** The part of an entry the kind depends on (a full DatasetEntry fits). */
export interface KindSource {
  formatting?: string | undefined;
  ranking?: boolean | undefined;
  columns?: Readonly<Record<string, string>> | undefined;
}

const named = (columns: KindSource["columns"], key: string) => columns !== undefined && Object.hasOwn(columns, key) && columns[key] !== "";

export function datasetKind(entry: KindSource): DatasetKind {
  if (entry.ranking === true) return "preference";
  if (named(entry.columns, "kto_tag")) return "kto";
  if (named(entry.columns, "text")) return "pretraining";
  const alpaca = (entry.formatting ?? "alpaca") === "alpaca";
  // LLaMA-Factory's pre-training sets name only a prompt column (c4_demo: {"prompt": "text"}); one
  // that also names a query or history column is a supervised set missing its response column.
  const cols = entry.columns;
  if (alpaca && cols !== undefined && named(cols, "prompt") && !["response", "query", "history"].some((k) => named(cols, k))) return "pretraining";
  return "sft";
}

/** Whether a dataset of this entry can train `stage` (run-config.ts STAGE_DATASET_KINDS). */
export function fitsStage(entry: KindSource, stage: Stage): boolean {
  return datasetFitsStage(datasetKind(entry), stage);
}
