"""The optimizer and learning-rate schedule of a training run (HF Trainer's rules)."""

from __future__ import annotations

import math

import torch

from .config import TrainConfig


def lr_lambda(kind: str, warmup: int, total: int):
    """Multiplier on the peak lr at optimizer step `s` (0-based), as in HF's schedulers."""

    def f(s: int) -> float:
        if s < warmup:
            return s / max(1, warmup)
        progress = (s - warmup) / max(1, total - warmup)
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 1.0

    return f


def warmup_steps(cfg: TrainConfig, total_steps: int) -> int:
    return cfg.warmup_steps if cfg.warmup_steps > 0 else math.ceil(cfg.warmup_ratio * total_steps)


def build_optimizer(model, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms, biases and other 1-D parameters (HF Trainer's rule)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    # One fused kernel for all adapter tensors on the GPU (the CPU has no fused AdamW).
    fused = all(p.is_cuda for g in groups for p in g["params"]) or None
    return torch.optim.AdamW(groups, lr=lr, fused=fused)
