"""Shared by test_quant_triton.py (CPU, Triton interpreter) and test_gpu_quant_triton.py (CUDA): a random LoRA
model whose seven projections are quantized, built in memory."""

import torch

from tuneboard_trainer.lora import apply_lora
from tuneboard_trainer.model import ModelConfig, Transformer, rope_inv_freq
from tuneboard_trainer.quant.linear import quantized_linear
from tuneboard_trainer.quant.load import _projection_paths


def quantized_lora_model(shape: dict, method: str, device="cpu", dtype=torch.float32, seed=0) -> Transformer:
    """fast_helpers.lora_model's random model (std 0.02, LoRA r8 on all 7 projections, random non-zero B, fp32
    adapters) with the projections quantized by `method` before LoRA wraps them."""
    cfg = ModelConfig(**shape)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Transformer(cfg)
        for name, p in model.named_parameters():
            if "norm" in name:
                p.data.fill_(1.0)
            else:
                p.data.normal_(0.0, 0.02)
        model.to(dtype)
        model.inv_freq = rope_inv_freq(cfg).to(device)
    for parent, name, _ in _projection_paths(model):
        lin = getattr(parent, name)
        setattr(parent, name, quantized_linear(lin.weight.data, lin.bias, method))
    for p in model.parameters():
        p.requires_grad_(False)
    apply_lora(model, "all", r=8, alpha=16)
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
            if "lora_B" in name:
                p.data.normal_(0.0, 0.02)  # B = 0 would make every A gradient zero
    return model.train()
