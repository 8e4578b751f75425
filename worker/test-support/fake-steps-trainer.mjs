#!/usr/bin/env node
// FAKE TRAINER for queue/worker tests (worker/pg-workers.integration.test.ts): it does not train.
// A stand-in for `python -m tuneboard_trainer train --config FILE --exit-with-stdin` that speaks
// the real event protocol and keeps the real file contract, fast:
//  - max_steps steps (default 8), FAKE_STEP_MS apart (default 150), a `step` event each;
//  - every save_steps a checkpoint-N/ with adapter_model.safetensors then trainer_state.pt
//    (written last, atomically, as the real trainer does), and a `checkpoint` event;
//  - resume_from_checkpoint: continues after that checkpoint's step;
//  - the final adapter files in output_dir and a `done` event;
//  - one line per start in output_dir/executions.jsonl (pid, worker, resumed step): what the
//    test counts to prove every job ran exactly once (or resumed once after a kill);
//  - exits when stdin closes (the worker died), like --exit-with-stdin.
import fs from "node:fs";
import path from "node:path";

const config = JSON.parse(fs.readFileSync(process.argv[process.argv.indexOf("--config") + 1], "utf8"));
const out = config.output_dir;
const total = config.max_steps ?? 8;
const saveSteps = config.save_steps ?? 0;
const delay = Number(process.env.FAKE_STEP_MS ?? 150);
const emit = (e) => process.stdout.write(JSON.stringify({ v: 1, time: Date.now() / 1000, ...e }) + "\n");

process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(3));

let start = 0;
if (config.resume_from_checkpoint) {
  start = JSON.parse(fs.readFileSync(path.join(config.resume_from_checkpoint, "trainer_state.pt"), "utf8")).global_step;
}
fs.mkdirSync(out, { recursive: true });
fs.appendFileSync(
  path.join(out, "executions.jsonl"),
  JSON.stringify({ pid: process.pid, worker: process.env.TUNEBOARD_WORKER_ID ?? null, resumedFrom: start }) + "\n",
);

const writeState = (dir, step) => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "adapter_model.safetensors"), `fake adapter weights at step ${step}\n`.repeat(64));
  fs.writeFileSync(path.join(dir, "adapter_config.json"), JSON.stringify({ fake: true, r: 8 }));
  fs.writeFileSync(path.join(dir, "trainer_state.pt.tmp"), JSON.stringify({ global_step: step }));
  fs.renameSync(path.join(dir, "trainer_state.pt.tmp"), path.join(dir, "trainer_state.pt"));
};

emit({ type: "started", total_steps: total, num_samples: 16, num_epochs: 1, trainable_params: 1, total_params: 2, device: "cpu", dtype: "float32", output_dir: out });
const t0 = Date.now();
for (let step = start + 1; step <= total; step++) {
  await new Promise((r) => setTimeout(r, delay));
  emit({ type: "step", step, total_steps: total, epoch: step / total, loss: 3 / step, lr: 1e-4, grad_norm: 1, tokens: step * 100, tokens_per_sec: 1000, elapsed_s: (Date.now() - t0) / 1000 });
  if (saveSteps && step % saveSteps === 0 && step < total) {
    writeState(path.join(out, `checkpoint-${step}`), step);
    emit({ type: "checkpoint", step, path: path.join(out, `checkpoint-${step}`) });
  }
}
writeState(out, total);
emit({ type: "done", step: total, train_loss: 1, runtime_s: (Date.now() - t0) / 1000, tokens_seen: total * 100, adapter_path: out });
process.exit(0);
