"""The reference path's building blocks: which device and dtype a run uses, gradient checkpointing, the forward
pass of one batch (padded or packed) and the evaluation loss."""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from .config import ConfigError, TrainConfig
from .data import ordered_batches
from .loss import lm_loss


def resolve_device(cfg: TrainConfig) -> tuple[torch.device, torch.dtype, list[str]]:
    """(device, compute dtype, warnings)."""
    name = cfg.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    compute, warnings = cfg.compute_type, []
    if compute == "auto":
        compute = "bf16" if name.startswith("cuda") else "fp32"
    if compute in ("bf16", "fp16") and not name.startswith("cuda"):
        warnings.append(f"compute_type {compute} needs a CUDA device; training in fp32 on {name}")
        compute = "fp32"
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    return torch.device(name), dtypes[compute], warnings


def enable_gradient_checkpointing(model) -> None:
    """Recompute each decoder block in backward (torch.utils.checkpoint, non-reentrant, RNG preserved)."""
    for block in model.model.layers:
        inner = block.forward

        def forward(*args, _inner=inner, _block=block):
            if _block.training and torch.is_grad_enabled():
                return checkpoint(_inner, *args, use_reentrant=False)
            return _inner(*args)

        block.forward = forward


def forward_batch(model, b: dict, device) -> torch.Tensor:
    ids = b["input_ids"].to(device)
    if "packed_mask" in b:  # packed rows: positions restart per sample, block-diagonal causal mask
        return model(ids, position_ids=b["position_ids"].to(device), attention_mask=b["packed_mask"].to(device))
    # Right padding only follows real tokens, so the causal mask alone keeps padding out of
    # every labelled position: no dense mask needed.
    return model(ids)


@torch.no_grad()
def evaluate(model, examples, batch_size: int, pad_id: int, device, autocast) -> float:
    """Mean next-token loss over all labelled tokens of `examples` (dropout off)."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for b in ordered_batches(examples, batch_size, pad_id):
        with autocast:
            loss, k = lm_loss(model, forward_batch(model, b, device), b["labels"].to(device))
        total += float(loss)
        n += k
    model.train(was_training)
    return total / max(n, 1)
