// What each registered dataset holds (its kind), read from its dataset_info.json entry alone, in
// LLaMA-Factory's terms: `ranking: true` = preference pairs, a `kto_tag` column = KTO records,
// only a text/prompt column = raw documents for pre-training, anything else = supervised records.
// The Train form flags datasets that do not fit the stage; createRun refuses them with the same
// rule (runRequestSchemaWith in lib/schemas/run-config.ts).
import type { DatasetKind } from "@/lib/schemas/run-config";
import type { DatasetEntry } from "@/lib/schemas/dataset";
import { readRegistry } from "./registry";

const named = (columns: DatasetEntry["columns"], key: string) => columns !== undefined && Object.hasOwn(columns, key) && columns[key] !== "";

export function datasetKind(entry: DatasetEntry): DatasetKind {
  if ((entry as { ranking?: unknown }).ranking === true) return "preference";
  const cols = entry.columns;
  if (named(cols, "kto_tag")) return "kto";
  if (named(cols, "text")) return "pretraining";
  // LLaMA-Factory's pre-training sets name only a prompt column (c4_demo: {"prompt": "text"}).
  const alpaca = (entry.formatting ?? "alpaca") === "alpaca";
  if (alpaca && named(cols, "prompt") && !["response", "query", "history"].some((k) => named(cols, k))) return "pretraining";
  return "sft";
}

/** The kind of every registered local dataset, by name. */
export async function datasetKinds(dataDir: string): Promise<Record<string, DatasetKind>> {
  const { entries } = await readRegistry(dataDir);
  return Object.fromEntries([...entries].map(([name, entry]) => [name, datasetKind(entry)]));
}
