// What each registered dataset holds (its kind), read from its dataset_info.json entry alone, in
// LLaMA-Factory's terms: `ranking: true` = preference pairs, a `kto_tag` column = KTO records,
// only a prompt/text column = raw documents for pre-training, anything else = supervised records.
// The Train form flags datasets that do not fit the stage; createRun refuses them with the same
// rule (runRequestSchemaWith in lib/schemas/run-config.ts).
import type { DatasetKind } from "@/lib/schemas/run-config";
import type { DatasetEntry } from "@/lib/schemas/dataset";
import { readRegistry } from "./registry";

export function datasetKind(entry: DatasetEntry): DatasetKind {
  if ((entry as { ranking?: unknown }).ranking === true) return "ranking";
  const columns = entry.columns ?? {};
  if (columns.kto_tag) return "kto";
  const formatting = entry.formatting ?? "alpaca";
  if (formatting === "alpaca" && entry.columns !== undefined && !columns.response && (columns.prompt || columns.text)) return "text";
  return "sft";
}

/** The kind of every registered local dataset, by name. */
export async function datasetKinds(dataDir: string): Promise<Record<string, DatasetKind>> {
  const { entries } = await readRegistry(dataDir);
  return Object.fromEntries([...entries].map(([name, entry]) => [name, datasetKind(entry)]));
}
