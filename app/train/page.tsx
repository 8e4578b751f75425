import { env } from "@/lib/env";
import { listModels } from "@/lib/models";
import { listDatasets } from "@/lib/datasets/registry";
import { TrainForm } from "@/components/TrainForm";
import { DEFAULT_RUN_CONFIG } from "@/lib/schemas/run-config";

export const dynamic = "force-dynamic";

export default async function TrainPage() {
  const { modelRoots, dataDir } = env();
  const models = listModels(modelRoots).map((m) => ({
    path: m.path,
    name: m.name,
    demo: m.demo,
    description: m.description,
    architecture: m.architecture,
    layers: m.layers,
    hiddenSize: m.hiddenSize,
    preset: m.preset,
  }));
  const datasets = (await listDatasets(dataDir)).map((d) => ({
    name: d.name,
    records: d.records,
    hasPlaceholders: d.hasPlaceholders,
    error: d.error ?? null,
  }));
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Train</h1>
      <TrainForm models={models} datasets={datasets} defaults={DEFAULT_RUN_CONFIG} modelRoots={modelRoots} />
    </div>
  );
}
