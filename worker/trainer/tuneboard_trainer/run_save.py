"""Saving a TrainingRun (train.py): what save_trained writes (the PEFT adapter for lora, an HF model for
freeze/full), the base's quantization note, and trainer_state.pt (run_state.py), which resuming and continuing
read."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .base_quantization import write_base_quantization
from .methods import save_trained
from .run_state import SAVED_KEYS, STATE_FILE, rng_state
from .stages import save_without_value_head


def save_run(run, path: Path, windows_in_epoch: int, parts: str = "all") -> Path:
    """Save `run` into `path`. parts: "all", "model" (the trained weights) or "state" (trainer_state.pt)."""
    path = Path(path)
    if parts != "state":
        save_without_value_head(run.model, lambda out: save_trained(run.model, out, run.cfg.finetuning_type,
                                                                    run.model_dir), path)
        if run.quant_method is not None:  # chat, evaluate and export rebuild the base the same way
            write_base_quantization(path, run.cfg.quantization_bit, run.quant_method)
    if parts == "model":
        return path
    done_epoch = windows_in_epoch and run.step_in_epoch >= windows_in_epoch
    e, s = (run.epoch + 1, 0) if done_epoch else (run.epoch, run.step_in_epoch)
    # trainer_state.pt is written last and atomically (temp file + rename): a checkpoint
    # that has it is complete, which is what the worker checks before resuming from it.
    tmp_state = path / (STATE_FILE + ".tmp")
    torch.save({
        "global_step": run.step, "epoch": e, "step_in_epoch": s, "tokens": run.tokens,
        "losses": run.losses, "evals": run.evals, "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler is not None else None, "rng": rng_state(),
        "trainable": {n: p.detach().cpu().clone() for n, p in run.model.named_parameters() if p.requires_grad},
        "config": {k: getattr(run.cfg, k) for k in SAVED_KEYS},
        "reference_trainable": run.pref_step.saved_reference() if run.pref_step is not None else None,
    }, tmp_state)
    os.replace(tmp_state, path / STATE_FILE)
    return path
