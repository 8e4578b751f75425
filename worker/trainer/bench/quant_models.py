"""Quantized models for the benchmarks, built on the device layer by layer (no checkpoint on disk).

Each projection's random bf16 weight (seeded by its Hugging Face name, std 0.02, as models.seeded_init) is drawn
on the device, quantized there and dropped before the next one is drawn: the peak is the quantized model plus
one layer's bf16 weight, so a 70B-shaped model (140 GB in bf16) builds on one GPU.
"""

from __future__ import annotations

import zlib
from typing import Optional

import torch

from . import models

LLAMA31_70B = {**models.LLAMA31_8B, "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
               "num_attention_heads": 64, "num_key_value_heads": 8}

# --quick stand-in for the 70B shape: the tiny shape with more blocks.
TINY_DEEP = {**models.TINY, "num_hidden_layers": 4}


@torch.no_grad()
def _random_weight(shape: tuple, path: str, device, dtype, seed: int = 1234) -> torch.Tensor:
    g = torch.Generator(device=device)
    g.manual_seed(seed + zlib.crc32(f"{path}.weight".encode()))
    return torch.empty(shape, dtype=dtype, device=device).normal_(0.0, 0.02, generator=g)


def build_quantized(cfg: dict, method: str, device: torch.device, dtype=torch.bfloat16):
    """Our Transformer of shape `cfg` with its decoder projections quantized by `method` (nf4, int8, fp8), LoRA
    r8 on all 7 (fp32 adapters), as prepare_model("lora") makes it. Returns (model, info)."""
    from tuneboard_trainer.methods import LoraSettings, prepare_model
    from tuneboard_trainer.model import ModelConfig, Transformer, rope_inv_freq
    from tuneboard_trainer.quant.linear import quantized_linear
    from tuneboard_trainer.quant.load import _projection_paths

    mcfg = ModelConfig.from_hf(dict(cfg))
    with torch.device("meta"):
        model = Transformer(mcfg)
    for parent, name, path in _projection_paths(model):
        lin = getattr(parent, name)
        w = _random_weight(tuple(lin.weight.shape), path, device, dtype)
        setattr(parent, name, quantized_linear(w, None, method))
        del w
    model.to_empty(device=device)  # what is left: embedding, norms, lm_head
    models.seeded_init(model)
    model.to(dtype)
    model.inv_freq = rope_inv_freq(mcfg).to(device)
    with torch.device(device):
        prepare_model(model, "lora", lora=LoraSettings(targets="all", r=models.LORA_R, alpha=models.LORA_ALPHA,
                                                       dropout=models.LORA_DROPOUT))
    model.train()
    return model, {"method": method, "quantized_gib": round(quantized_bytes(model) / 1024**3, 3)}


def quantized_bytes(model) -> int:
    from tuneboard_trainer.quant.linear import QuantizedLinear

    return sum(m.qweight.nbytes() for m in model.modules() if isinstance(m, QuantizedLinear))


def projection_weights(model) -> list:
    """The quantized weights (or, for a bf16 model, the dense weights) of every decoder projection, in order."""
    from tuneboard_trainer.lora import LoRALinear
    from tuneboard_trainer.quant.linear import QuantizedLinear

    out = []
    for m in model.modules():
        if isinstance(m, LoRALinear):
            out.append(m.quantized.qweight if m.quantized is not None else m.weight)
        elif isinstance(m, QuantizedLinear):
            out.append(m.qweight)
    return out


def decode_matmuls(weights: list, x_by_k: dict, mode: Optional[str]):
    """One decode token's projections: every weight times a (1, K) input (dense: torch.mm; quantized: the
    kernels of `mode`). Returns the list of outputs (kept so the work is not optimised away)."""
    from tuneboard_trainer.quant import linear
    from tuneboard_trainer.quant.kernels import quant_matmul

    outs = []
    for w in weights:
        x = x_by_k[int(w.shape[1])]
        if isinstance(w, torch.Tensor):
            outs.append(torch.mm(x, w.t()))
        elif x.device.type in linear.KERNEL_DEVICES:
            outs.append(quant_matmul(x, w, False, mode))
        else:  # the CPU smoke run: the reference layer's dequantize-then-matmul
            outs.append(torch.mm(x, w.dequantize(x.dtype).t()))
    return outs
