"""trainer_state.pt: what a checkpoint holds beyond the weights, so a run resumes bit-identically.

Trainable weights, optimizer, scheduler, grad scaler, torch/python/numpy RNG states, global step, and the epoch
and optimizer-step position within that epoch's (seeded) batch order.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from .config import ConfigError, TrainConfig

STATE_FILE = "trainer_state.pt"
# Config fields a resumed run must share with its checkpoint (they decide the batch order and the step count).
RESUME_KEYS = ("finetuning_type", "per_device_train_batch_size", "gradient_accumulation_steps", "seed",
               "packing", "val_size")


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_resume_state(cfg: TrainConfig) -> dict:
    """trainer_state.pt of `resume_from_checkpoint`, checked before anything heavy loads."""
    ckpt = Path(cfg.resume_from_checkpoint)
    if not (ckpt / STATE_FILE).is_file():
        raise ConfigError(f"resume_from_checkpoint: {ckpt} has no {STATE_FILE} (not a checkpoint directory)")
    # Our own file: it holds python/numpy RNG states, which the weights-only loader refuses.
    state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
    for key in RESUME_KEYS:
        if state["config"].get(key) != getattr(cfg, key):
            raise ConfigError(f"resume_from_checkpoint: the checkpoint was trained with {key}="
                              f"{state['config'].get(key)!r}, this config has {getattr(cfg, key)!r}")
    return state
