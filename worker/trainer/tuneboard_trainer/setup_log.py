"""What a training run says once its setup is done: the `started` event and the log lines describing the data,
the method, the fast path and where training starts (fresh, continued, chained from an SFT run, or resumed)."""

from __future__ import annotations

import os
import time
from typing import Optional

from .events import Started
from .fast import resolved_options
from .stages import describe


def announce_setup(run) -> None:
    """The `started` event of a TrainingRun (train.py) and the log lines that describe its setup."""
    cfg, sink, stats = run.cfg, run.sink, run.stats
    sink.emit(Started(
        total_steps=run.total_steps, num_samples=len(run.train_set),
        num_epochs=round(run.total_steps / run.steps_per_epoch, 4), trainable_params=run.trainable,
        total_params=run.total, device=str(run.device), dtype=str(run.dtype).removeprefix("torch."),
        output_dir=str(run.out_dir), num_eval_samples=len(run.val_set) or None,
        fast_path_options=resolved_options(run.options, run.fast, run.graphs),
    ))
    sink.log(f"loaded {len(run.examples)} samples from {', '.join(cfg.dataset)} "
             f"({stats.truncated} truncated, {stats.dropped} dropped)",
             level="warning" if stats.truncated or stats.dropped else "info")
    for w in run.warnings:
        sink.log(w, level="warning")
    stage_line = describe(cfg, run.chained, fast=run.fast is not None,
                          shared_prompt=run.fast is not None and run.fast.shares_prompts)
    if stage_line:
        sink.log(stage_line)
    if run.val_set:
        sink.log(f"held out {len(run.val_set)} samples for eval loss every {cfg.eval_steps} steps")
    if cfg.packing or cfg.stage == "pt":
        sink.log(f"packed {len(run.train_set)} samples into {len(run.rows)} rows of at most "
                 f"{cfg.cutoff_len} tokens")
    for msg in (getattr(run, "load_msg", None), run.fast_msg, run.graphs_msg, run.aux_msg):
        if msg:
            sink.log(msg)
    if run.chained and run.resume is None:
        sink.log(f"starting from the SFT run {cfg.continue_from}: its adapter is where training starts"
                 + (", and, frozen, the reference model" if run.pref_step.reference else ""))
    elif run.parent is not None and run.resume is None:
        sink.log(f"continuing {cfg.continue_from} from step {run.step} (epoch {run.epoch}, step "
                 f"{run.step_in_epoch} of that epoch): weights, optimizer, scheduler and RNG restored; "
                 f"{run.total_steps - run.start_step} more steps")
    if run.resume is not None:
        sink.log(f"resumed from {cfg.resume_from_checkpoint} at step {run.step} (epoch {run.epoch}, "
                 f"step {run.step_in_epoch} of that epoch)")
    run.setup_s = time.time() - run.t_setup
    sink.log(f"setup took {run.setup_s:.1f}s ("
             + ", ".join(f"{k} {v:.1f}s" for k, v in run.phases.items())
             + f"); {run.total_steps} steps, {run.steps_per_epoch} per epoch")


def process_start_time() -> Optional[float]:
    """When this process started (wall clock, 10 ms resolution), from /proc: the interpreter's start-up and the
    imports before a run's setup are the time between it and the setup's start. None without /proc."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat(5), counted from field 3 (after the command name)
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def log_timing(run, train_s: float, save_s: float) -> None:
    """One log line with where the run's time went: interpreter and imports (process start to setup), setup,
    the first step (CUDA graph capture, kernel start-up), the other steps, and the final save."""
    parts = []
    if run.t_process is not None:
        parts.append(f"start-up and imports {max(0.0, run.t_setup - run.t_process):.1f}s")
    parts.append(f"setup {run.setup_s:.1f}s")
    first = getattr(run, "first_step_s", None)
    if first is not None:
        parts.append(f"first step {first:.1f}s")
        parts.append(f"other steps {max(0.0, train_s - first):.1f}s")
    else:
        parts.append(f"training {train_s:.1f}s")
    parts.append(f"final save {save_s:.1f}s")
    run.sink.log("timing: " + ", ".join(parts))


def reader_message(stats: dict) -> str | None:
    """A log line from the staged reader's statistics (safetensors_io._read_staged): its per-phase seconds,
    summed over its threads; None when it did not read (the CPU reads through safetensors)."""
    if not stats:
        return None
    return ("weights read through pinned buffers: per-thread sums " + ", ".join(
        f"{k.removesuffix('_s')} {v:.2f}s" for k, v in stats.items() if k.endswith("_s"))
        + f", {stats.get('chunks', 0)} chunks")
