// The hyperparameters that differ between runs, from each job's stored config JSON.
export interface ConfigDiff {
  /** One row per setting whose value is not the same in every run; values in run order. */
  rows: { key: string; values: (string | null)[] }[];
  /** How many settings are the same in every run. */
  same: number;
}

// Set by the app, not by the user: never a meaningful difference.
const IGNORED = new Set(["name", "output_dir", "dataset_dir"]);

/** A value as the table shows it: arrays joined, model paths by their folder name, unset as null. */
export function displayValue(key: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return v.map((x) => String(x)).join(", ");
  if (key === "model_name_or_path" && typeof v === "string") return v.split(/[\\/]/).filter(Boolean).at(-1) ?? v;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function diffConfigs(configs: Record<string, unknown>[]): ConfigDiff {
  const keys = [...new Set(configs.flatMap((c) => Object.keys(c)))].filter((k) => !IGNORED.has(k)).sort();
  const rows: ConfigDiff["rows"] = [];
  let same = 0;
  for (const key of keys) {
    const values = configs.map((c) => displayValue(key, c[key]));
    if (values.every((v) => v === values[0])) same += 1;
    else rows.push({ key, values });
  }
  return { rows, same };
}

/** The stored config text of a job as an object ({} when it is not a JSON object). */
export function parseStoredConfig(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
