// Which datasets the Train form offers for a stage: the rule is the shared schema's
// (datasetFitsStage); these helpers only decide what is pre-selected when the stage changes.
import { datasetFitsStage, type Stage } from "@/lib/schemas/run-config";
import { isSelectableDataset } from "@/lib/datasets/choice";
import type { DatasetOption } from "./types";

export const fitsStage = (d: DatasetOption, stage: Stage) => d.kind === null || datasetFitsStage(d.kind, stage);

/** The selection after switching to `stage`: the selected datasets that fit it, else the newest usable one that does. */
export function stageSelection(datasets: DatasetOption[], selected: string[], stage: Stage): string[] {
  const fitting = selected.filter((name) => {
    const d = datasets.find((x) => x.name === name);
    return d !== undefined && fitsStage(d, stage);
  });
  if (fitting.length > 0) return fitting;
  const newest = datasets.filter((d) => isSelectableDataset(d) && fitsStage(d, stage)).at(-1);
  return newest ? [newest.name] : [];
}
