// "As the model sees it": runs the trainer's own render module (worker/trainer/tuneboard_trainer/
// render.py) through the venv's python, so the highlighted trained tokens and the lengths come
// from the same tokenisation and label masking as training. It takes a few seconds (Python and
// tokenizer start-up), so answers are cached by the files' modification times.
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import path from "node:path";
import { renderRequestSchema, renderResultSchema, type RenderResult } from "../schemas/dataset";
import { DatasetError, formErrorFromZod } from "./errors";
import { loadRawRecords } from "./records";
import { readRegistry, REGISTRY_FILE } from "./registry";
import { resolveInside } from "./roots";
import { datasetKind } from "./kind";
import { resolveModelPath } from "../models";

export interface RenderPaths {
  dataDir: string;
  modelRoots: string[];
  python: string;
  root: string;
}

const CACHE_SIZE = 64;
const cache = new Map<string, RenderResult>();

export async function renderRecord(paths: RenderPaths, input: unknown): Promise<RenderResult> {
  const parsed = renderRequestSchema.safeParse(input);
  if (!parsed.success) throw formErrorFromZod(parsed.error, "record");
  const req = parsed.data;

  const { entries } = await readRegistry(paths.dataDir);
  const entry = entries.get(req.dataset);
  if (entry === undefined) throw new DatasetError("not_found", "dataset", `dataset "${req.dataset}" is not registered in dataset_info.json`);
  if (datasetKind(entry) === "pretraining") {
    // Every token of a document is trained and there is no template around it: nothing to mark.
    throw new DatasetError("unsupported", "dataset", `dataset "${req.dataset}" is pre-training text: every token of each document is trained, with no chat template around it`);
  }
  const file = await resolveInside(paths.dataDir, entry.file_name, "dataset");
  let modelDir: string;
  try {
    modelDir = resolveModelPath(paths.modelRoots, req.model);
  } catch (err) {
    throw new DatasetError("outside_root", "model", (err as Error).message);
  }

  // Answered here without starting Python: the common mistake is quick to report.
  const count = (await loadRawRecords(file, "dataset", req.dataset)).length;
  if (req.record >= count) {
    throw new DatasetError("invalid_input", "record", `record ${req.record} does not exist (dataset '${req.dataset}' has records 0 to ${count - 1})`);
  }

  const mtimes = await Promise.all([file, path.join(paths.dataDir, REGISTRY_FILE), path.join(modelDir, "tokenizer.json")].map(mtime));
  const key = JSON.stringify([req, file, modelDir, mtimes]);
  const hit = cache.get(key);
  if (hit) return hit;

  const args = [
    "-m", "tuneboard_trainer.render",
    "--dataset-dir", paths.dataDir,
    "--dataset", req.dataset,
    "--template", req.template,
    "--model-dir", modelDir,
    "--record", String(req.record),
    "--cutoff-len", String(req.cutoffLen),
  ];
  const stdout = await run(paths, args);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new Error(`render.py printed something that is not JSON: ${stdout.slice(0, 200)}`);
  }
  const result = renderResultSchema.parse(json);
  if (!result.ok) {
    const field = /^record \d+ does not exist/.test(result.error) ? "record" : /^template/.test(result.error) ? "template" : "dataset";
    throw new DatasetError("invalid_input", field, result.error);
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(key, result);
  return result;
}

async function mtime(p: string): Promise<number> {
  try {
    return (await stat(p)).mtimeMs;
  } catch {
    return 0;
  }
}

/** The python child: an argument array, PYTHONPATH as the worker sets it; exit 2 = a JSON error on stdout. */
function run(paths: RenderPaths, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      paths.python,
      args,
      {
        cwd: paths.root,
        env: { ...process.env, PYTHONPATH: path.join(paths.root, "worker", "trainer"), OMP_NUM_THREADS: "1", PYTHONUNBUFFERED: "1" },
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err && (err as { code?: unknown }).code !== 2) {
          reject(new Error(`render.py failed: ${String(stderr).trim().split("\n").slice(-3).join(" ") || err.message}`));
          return;
        }
        resolve(String(stdout));
      },
    );
  });
}
