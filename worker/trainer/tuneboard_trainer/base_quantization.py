"""The quantized base an adapter was trained on, recorded beside the adapter, and that base rebuilt the same way
for chat, evaluate and export.

A run with quantization_bit 4 or 8 trains its LoRA adapter against the dequantized weights of a quantized base
(quant/load.py). The adapter corrects for that base, quantization error included, so inference and merging read
the base through the same quantization (the method the run resolved: nf4, int8 or fp8) instead of the original
weights. The record is a small JSON file next to adapter_config.json (peft ignores files it does not know).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch

from .contracts.enums import LORA_TARGETS, QUANTIZATION_METHOD_BITS

RECORD_FILE = "tuneboard_quantization.json"
_PROJECTION = re.compile(r"^model\.layers\.\d+\.[A-Za-z_]+\.(" + "|".join(LORA_TARGETS) + r")\.weight$")


def write_base_quantization(adapter_dir, bits: str, method: str) -> Path:
    path = Path(adapter_dir) / RECORD_FILE
    path.write_text(json.dumps({"quantization_bit": bits, "quantization_method": method}) + "\n", encoding="utf-8")
    return path


def read_base_quantization(adapter_dir) -> Optional[str]:
    """nf4 | int8 | fp8 when the adapter was trained on a quantized base, else None. A record that cannot be
    read is a ValueError in words (guessing the base would silently change the model)."""
    path = Path(adapter_dir) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        method, bits = rec["quantization_method"], rec["quantization_bit"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: not a quantization record (quantization_bit, quantization_method)") from None
    if QUANTIZATION_METHOD_BITS.get(method) != bits:
        raise ValueError(f"{path}: quantization_method {method!r} does not fit quantization_bit {bits!r}")
    return method


def adapters_base_method(adapter_dirs: Iterable) -> Optional[str]:
    """The one base quantization every adapter was trained on; adapters from different bases cannot share one."""
    methods = {str(d): read_base_quantization(d) for d in adapter_dirs}
    found = set(methods.values())
    if len(found) > 1:
        listed = ", ".join(f"{d}: {m or 'full precision'}" for d, m in methods.items())
        raise ValueError(f"these adapters were trained on differently quantized bases ({listed}); "
                         "load them one at a time")
    return found.pop() if found else None


def is_projection_weight(name: str) -> bool:
    """A decoder projection weight: what a quantized run stores quantized (embeddings, norms, lm_head are not)."""
    return _PROJECTION.match(name) is not None


def requantized(weight: torch.Tensor, method: str) -> torch.Tensor:
    """The weight as the quantized run saw it: quantized with `method`, dequantized to fp32."""
    from .quant.linear import quantize_weight

    return quantize_weight(weight.float(), method).dequantize(torch.float32)


def dequantized_state_dict(model_dir, method: str, device, dtype: torch.dtype,
                           progress: Callable[[str, Optional[float]], None] = lambda p, f: None) -> dict:
    """The checkpoint's tensors with every projection quantized with `method` and dequantized into `dtype`, loaded
    layer by layer through quant/load.py as training did (for engines that run on dense weights)."""
    from .quant.linear import QuantizedLinear
    from .quant.load import load_quantized

    progress("weights", 0.0)
    model = load_quantized(model_dir, method, dtype=dtype, device=device)
    dense = {}
    modules = [(n, m) for n, m in model.named_modules() if isinstance(m, QuantizedLinear)]
    for i, (name, module) in enumerate(modules, 1):
        dense[f"{name}.weight"] = module.dequantized_weight(dtype)
        module.qweight = None  # the packed copy is not needed once the dense one exists
        progress("weights", i / max(1, len(modules)))
    sd = {k: v for k, v in model.state_dict().items()}
    sd.update(dense)
    return sd


def merge_warning(method: str) -> str:
    """What export says when it merges an adapter trained on a quantized base (LLaMA-Factory warns likewise)."""
    bits = QUANTIZATION_METHOD_BITS[method]
    return (f"the adapter was trained on a {bits}-bit ({method}) quantized base: it is merged into the dequantized "
            f"{bits}-bit weights, not the original ones, so the merged model carries the quantization error of "
            "the base (small, but the outputs are not identical to the original base with this adapter)")
