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
# Config fields that decide what the trained weights are: a run continues another only when they match
# (checked when the state holds them), in words for the error.
MODEL_KEYS = {"model_name_or_path": "base model", "finetuning_type": "method", "lora_rank": "LoRA rank",
              "lora_alpha": "LoRA alpha", "lora_target": "LoRA target modules", "use_dora": "DoRA",
              "use_rslora": "rsLoRA", "freeze_trainable_layers": "trainable layers",
              "freeze_trainable_modules": "trainable modules", "stage": "stage"}
SAVED_KEYS = tuple(dict.fromkeys(RESUME_KEYS + tuple(MODEL_KEYS)))


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


# A run of one of these stages may start from a finished sft run (the SFT -> preference chain): it takes that
# run's trained weights only and trains its own stage from step 0, against that SFT model as the reference.
CHAIN_STAGES = ("dpo", "kto")


def is_stage_chain(state: dict, cfg: TrainConfig) -> bool:
    """True when `state` (a continue_from state) is an sft run that this preference run starts from."""
    return state["config"].get("stage", "sft") == "sft" and cfg.stage in CHAIN_STAGES


def load_continue_state(cfg: TrainConfig) -> dict:
    """The final trainer_state.pt of the run `continue_from` names, checked against this config."""
    folder = Path(cfg.continue_from)
    if not (folder / STATE_FILE).is_file():
        raise ConfigError(f"continue_from: {folder} has no {STATE_FILE}: the earlier run did not save its final "
                          "state, so it cannot be continued")
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    saved = state["config"]
    if is_stage_chain(state, cfg):
        # Only the weights carry over: the batch order, optimizer and step counter are this stage's own.
        for key, words in MODEL_KEYS.items():
            if key != "stage" and key in saved and saved[key] != getattr(cfg, key):
                raise ConfigError(f"continue_from: the SFT run was trained with {words} {saved[key]!r}, this run "
                                  f"has {getattr(cfg, key)!r}; preference training starts from an SFT run only "
                                  "with the same base model, method and adapter shape")
        return state
    for key, words in MODEL_KEYS.items():
        if key in saved and saved[key] != getattr(cfg, key):
            raise ConfigError(f"continue_from: the earlier run was trained with {words} {saved[key]!r}, this run has "
                              f"{getattr(cfg, key)!r}; a run continues only with the same base model, method and "
                              "adapter shape")
    for key in RESUME_KEYS:
        if saved.get(key) != getattr(cfg, key):
            raise ConfigError(f"continue_from: the earlier run was trained with {key}={saved.get(key)!r}, this run "
                              f"has {getattr(cfg, key)!r}")
    return state


def load_trained_weights(model, state: dict, field: str) -> None:
    """The trained weights of `state` into `model` (an sft run a preference run starts from), nothing else."""
    named = dict(model.named_parameters())
    check_trainable(state, named, field)
    with torch.no_grad():
        for n, t in state["trainable"].items():
            named[n].copy_(t)


def check_trainable(state: dict, named: dict, field: str) -> None:
    """The saved trainable tensors have the names and shapes of this model's trainable parameters."""
    mine = {n: p for n, p in named.items() if p.requires_grad}
    if set(state["trainable"]) != set(mine):
        raise ConfigError(f"{field}: its trainable parameters do not match this model/config")
    for n, t in state["trainable"].items():
        if tuple(t.shape) != tuple(mine[n].shape):
            raise ConfigError(f"{field}: {n} has shape {tuple(t.shape)} there and {tuple(mine[n].shape)} in this "
                              "model (a different base model or LoRA rank)")
