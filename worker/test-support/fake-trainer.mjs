#!/usr/bin/env node
// A stand-in for `python -m tuneboard_trainer train --config FILE` (TUNEBOARD_PYTHON points here
// in worker/failure.integration.test.ts): it fails the way the config's `seed` says, so the
// worker's failure messages can be tested end to end without a real out-of-memory.
import fs from "node:fs";

const config = JSON.parse(fs.readFileSync(process.argv[process.argv.indexOf("--config") + 1], "utf8"));
const emit = (e) => process.stdout.write(JSON.stringify({ v: 1, time: Date.now() / 1000, ...e }) + "\n");
const started = () =>
  emit({ type: "started", total_steps: 10, num_samples: 20, num_epochs: 1, trainable_params: 1, total_params: 2, device: "cpu", dtype: "float32", output_dir: config.output_dir });

switch (config.seed) {
  case 1: // the trainer caught torch.OutOfMemoryError
    started();
    emit({ type: "error", kind: "oom", message: "CUDA out of memory. Tried to allocate 2.00 GiB" });
    process.exit(1);
  case 2: // the kernel's OOM killer: SIGKILL, no last words
    started();
    emit({ type: "step", step: 1, total_steps: 10, epoch: 0.1, loss: 2.5, lr: 1e-4, grad_norm: 1, tokens: 100, tokens_per_sec: 50, elapsed_s: 2 });
    setTimeout(() => process.kill(process.pid, "SIGKILL"), 50);
    break;
  case 3: // a config error: exit code 2
    emit({ type: "error", kind: "config", message: "cutoff_len 8 is shorter than the template's header" });
    process.exit(2);
  case 4: // a data error
    emit({ type: "error", kind: "data", message: 'dataset "identity_greatbot": record 3: output must be a non-empty string' });
    process.exit(1);
  case 5: // Python's MemoryError, only as traceback text on stderr
    process.stderr.write("Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\nMemoryError\n");
    process.exit(1);
  default:
    process.exit(3);
}
