// The kind of every registered dataset, for the Train form's stage filter and createRun's check
// (runRequestSchemaWith in lib/schemas/run-config.ts refuses a dataset that does not fit the stage).
import type { DatasetKind } from "@/lib/schemas/run-config";
import { datasetKind } from "./kind";
import { readRegistry } from "./registry";

/** The kind of every registered local dataset, by name. */
export async function datasetKinds(dataDir: string): Promise<Record<string, DatasetKind>> {
  const { entries } = await readRegistry(dataDir);
  return Object.fromEntries([...entries].map(([name, entry]) => [name, datasetKind(entry)]));
}
