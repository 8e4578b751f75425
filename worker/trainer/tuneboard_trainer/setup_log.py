"""What a training run says once its setup is done: the `started` event and the log lines describing the data,
the method, the fast path and where training starts (fresh, continued, chained from an SFT run, or resumed)."""

from __future__ import annotations

import time

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
    stage_line = describe(cfg, run.chained, fast=run.fast is not None)
    if stage_line:
        sink.log(stage_line)
    if run.val_set:
        sink.log(f"held out {len(run.val_set)} samples for eval loss every {cfg.eval_steps} steps")
    if cfg.packing or cfg.stage == "pt":
        sink.log(f"packed {len(run.train_set)} samples into {len(run.rows)} rows of at most "
                 f"{cfg.cutoff_len} tokens")
    for msg in (run.fast_msg, run.graphs_msg, run.aux_msg):
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
    sink.log(f"setup took {time.time() - run.t_setup:.1f}s ("
             + ", ".join(f"{k} {v:.1f}s" for k, v in run.phases.items())
             + f"); {run.total_steps} steps, {run.steps_per_epoch} per epoch")
