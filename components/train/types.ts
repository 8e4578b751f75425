// What the Train page hands its client components (plain, serialisable data).
import type { ModelShape } from "@/lib/estimate/shape";
import type { DatasetKind, RunConfig, TEMPLATES } from "@/lib/schemas/run-config";

export interface ModelOption {
  path: string;
  name: string;
  demo: boolean;
  description: string | null;
  architecture: string;
  layers: number | null;
  hiddenSize: number | null;
  contextLength: number | null;
  vocabSize: number | null;
  shape: ModelShape | null;
  parameterCount: number | null;
  parameterSource: "safetensors" | "config" | null;
  activeParameterCount: number | null;
  weightDtype: string | null;
  templateGuess: (typeof TEMPLATES)[number];
  preset: Record<string, unknown> | null;
}

export interface DatasetOption {
  name: string;
  records: number | null;
  hasPlaceholders: boolean;
  error: string | null;
  /** What the records are for (lib/datasets/stage-fit.ts); null: not known (not registered). */
  kind: DatasetKind | null;
}

/** The finished SFT run a preference run starts from (/train?prefer=<id>), as pages call it. */
export interface StartFrom {
  id: number;
  number: number;
  name: string;
}

/** The run a /train?from=<id> form was prefilled from (config null: not found). */
export interface CloneInfo {
  /** The database id from the URL. */
  id: number;
  /** The run's number among runs (what pages call it); null when not found. */
  number: number | null;
  name: string | null;
  config: Partial<RunConfig> | null;
  dropped: string[];
}

export type FieldErrors = Partial<Record<string, string>>;
