// Which datasets the Train form offers for a stage: the rule is the shared schema's
// (datasetFitsStage); these helpers decide what is pre-selected when the stage changes. Pure, so
// the browser bundle can use them (stage-fit.ts reads the registry from disk).
import { datasetFitsStage, type DatasetKind, type Stage } from "@/lib/schemas/run-config";
import { isSelectableDataset, type DatasetChoiceInput } from "./choice";

export interface StagedDataset extends DatasetChoiceInput {
  /** null: not known (a name no longer registered). */
  kind: DatasetKind | null;
}

export const fitsStage = (d: StagedDataset, stage: Stage) => d.kind === null || datasetFitsStage(d.kind, stage);

/** The selection after switching to `stage`: the selected datasets that fit it, else the newest usable one that does. */
export function stageSelection(datasets: StagedDataset[], selected: string[], stage: Stage): string[] {
  const fitting = selected.filter((name) => {
    const d = datasets.find((x) => x.name === name);
    return d !== undefined && fitsStage(d, stage);
  });
  if (fitting.length > 0) return fitting;
  const newest = datasets.filter((d) => isSelectableDataset(d) && fitsStage(d, stage)).at(-1);
  return newest ? [newest.name] : [];
}
