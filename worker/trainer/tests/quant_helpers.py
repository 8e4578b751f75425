"""Shared by test_quant_triton.py (CPU, Triton interpreter) and test_gpu_quant_triton.py (CUDA): a random LoRA
model whose seven projections are quantized, built in memory."""

import torch

from fast_helpers import random_model, with_random_lora
from tuneboard_trainer.model import Transformer
from tuneboard_trainer.quant.linear import quantized_linear
from tuneboard_trainer.quant.load import _projection_paths


def quantized_lora_model(shape: dict, method: str, device="cpu", dtype=torch.float32, seed=0) -> Transformer:
    """fast_helpers.lora_model's random model (std 0.02, LoRA r8 on all 7 projections, random non-zero B, fp32
    adapters) with the projections quantized by `method` before LoRA wraps them."""
    model = random_model(shape, device, dtype, seed)
    for parent, name, _ in _projection_paths(model):
        lin = getattr(parent, name)
        setattr(parent, name, quantized_linear(lin.weight.data, lin.bias, method))
    for p in model.parameters():
        p.requires_grad_(False)
    return with_random_lora(model)
