// The demo's payoff, measured (a benchmark, not a timed test): the default demo run on the CPU, then the
// held-out identity questions answered greedily and with the default sampling, scored with the Identity
// check's own rules (components/chat/identity.ts, lib/chat/clean-answer.ts).
//
//   npx tsx scripts/bench-demo-identity.ts [--json out.json] [--work DIR] [-- --preset '{"num_train_epochs": 15}' --identity FILE]
//
// worker/trainer/bench/demo_identity.py builds the demo model, trains and writes the answers (with the
// worker's thread setting, lib/trainer/command.ts); this script scores them. Targets (issue: the demo that answers in clean sentences): greedy ≥ 95 % name both Greatbot and
// Allen and ≥ 90 % clean; sampling ≥ 85 % both and ≥ 75 % clean; training ≤ 180 s on 2 cores.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { scoreIdentity } from "../components/chat/identity";
import { vocabularyOf } from "../lib/chat/clean-answer";
import { threadEnv } from "../lib/trainer/command";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const opt = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const TARGETS = { greedy: { both: 0.95, clean: 0.9 }, sampling: { both: 0.85, clean: 0.75 }, trainWallS: 180 };

const rows = z.array(z.object({ question: z.string(), answer: z.string() }));
const output = z.object({
  name: z.string(),
  author: z.string(),
  records: z.number(),
  train_wall_s: z.number(),
  training_answers: z.array(z.string()),
  answers: z.object({ greedy: rows, sampling: rows }),
}).passthrough();

const work = opt("work") ?? fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-demo-identity-"));
const answersFile = path.join(work, "answers.json");
const trainer = path.join(ROOT, "worker", "trainer");
const passOn = process.argv.includes("--") ? process.argv.slice(process.argv.indexOf("--") + 1) : [];
execFileSync(PYTHON, ["-m", "bench.demo_identity", "--repo", ROOT, "--work", work, "--out", answersFile, ...passOn], {
  cwd: trainer,
  // The worker's thread setting for trainer processes (one thread on a 2-core host), so the run is timed as the app runs it.
  env: { ...process.env, ...threadEnv(), PYTHONPATH: trainer },
  stdio: "inherit",
});
const raw = JSON.parse(fs.readFileSync(answersFile, "utf8")) as Record<string, unknown>;
const out = output.parse(raw);
const vocabulary = vocabularyOf(out.training_answers);
const share = (n: number, total: number) => Math.round((n / total) * 1000) / 1000;
const scored = Object.fromEntries(
  (["greedy", "sampling"] as const).map((mode) => {
    const s = scoreIdentity(out.answers[mode], out.name, out.author, vocabulary);
    return [mode, { total: s.total, both: share(s.withBoth, s.total), clean: share(s.clean, s.total), rows: s.rows }];
  }),
);
for (const mode of ["greedy", "sampling"] as const) {
  const s = scored[mode];
  console.log(`${mode}: both ${s.both * 100} % clean ${s.clean * 100} % of ${s.total} (targets ${TARGETS[mode].both * 100} % / ${TARGETS[mode].clean * 100} %)`);
  for (const r of s.rows.filter((r) => !(r.hasName && r.hasAuthor) || !r.isClean)) console.log(`  ✗ ${r.question} → ${JSON.stringify(r.answer)}`);
}
console.log(`training: ${out.train_wall_s} s for ${out.records} records (target ≤ ${TARGETS.trainWallS} s); load ${JSON.stringify(raw.load_avg_before)} → ${JSON.stringify(raw.load_avg_after)}`);
const json = opt("json");
if (json) {
  const { answers: _answers, training_answers: _training, ...meta } = raw;
  fs.writeFileSync(json, JSON.stringify({ ...meta, date: new Date().toISOString(), scores: scored }, null, 1) + "\n");
}
