// Checkpoints of a run's output folder: shared by the worker (which resumes from the newest) and
// the Run page (which says whether Resume continues from one or starts over).
import fs from "node:fs";
import path from "node:path";

/**
 * The newest checkpoint-N directory of a run that holds a complete trainer state, or null.
 * `maxStep`: only checkpoints at or before the last step the database has (a checkpoint can be
 * ahead of the recorded metrics when the worker died with writes pending; resuming from it would
 * leave a gap in the run's history).
 */
export function latestCheckpoint(outputDir: string, maxStep = Infinity): string | null {
  if (!fs.existsSync(outputDir)) return null;
  const steps = fs
    .readdirSync(outputDir)
    .map((name) => /^checkpoint-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((step) => step <= maxStep)
    .sort((a, b) => b - a);
  for (const step of steps) {
    const dir = path.join(outputDir, `checkpoint-${step}`);
    // trainer_state.pt is written last and atomically: without it the checkpoint is incomplete.
    if (fs.existsSync(path.join(dir, "trainer_state.pt"))) return dir;
  }
  return null;
}
