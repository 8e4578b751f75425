// Checkpoints of a run's output folder: shared by the worker (which resumes from the newest) and
// the Run page (which says whether Resume continues from one or starts over).
import fs from "node:fs";
import path from "node:path";

/** The newest checkpoint-N directory of a run that holds a complete trainer state, or null. */
export function latestCheckpoint(outputDir: string): string | null {
  if (!fs.existsSync(outputDir)) return null;
  const steps = fs
    .readdirSync(outputDir)
    .map((name) => /^checkpoint-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  for (const step of steps) {
    const dir = path.join(outputDir, `checkpoint-${step}`);
    // trainer_state.pt is written last and atomically: without it the checkpoint is incomplete.
    if (fs.existsSync(path.join(dir, "trainer_state.pt"))) return dir;
  }
  return null;
}
