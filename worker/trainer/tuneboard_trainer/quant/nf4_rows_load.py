"""A checkpoint read for decoding from 4-bit weights: projections as NF4Rows, everything else dense.

From a full-precision checkpoint every projection is quantized to NF4 in the reading thread as soon as it is
on the device (safetensors_io.read_weights' transform), exactly as a 4-bit training run quantizes its base
(quant/load.py), so at most one dense projection per reading thread is ever on the device. A bitsandbytes
4-bit checkpoint is read as stored (its NF4 entries are the weights; nothing is quantized twice).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

import torch

from ..base_quantization import is_projection_weight
from ..safetensors_io import read_weights
from .bnb_format import NF4_STATE, check_bnb_config, entry_names, is_bnb_4bit, nf4_from_entries
from .nf4 import quantize_nf4
from .nf4_rows import NF4Rows, quantize_rows, rows_fit, to_rows


def read_nf4_rows(model_dir, device: torch.device, dtype: torch.dtype,
                  progress: Callable[[str, Optional[float]], None] = lambda p, f: None) -> dict:
    """{name: tensor or NF4Rows}: every projection weight whose rows hold whole 64-value blocks as NF4Rows (others
    dequantized into `dtype`, as a 4-bit run would see them), every other tensor in `dtype`."""
    path = Path(model_dir)
    config = json.loads((path / "config.json").read_text())
    check_bnb_config(config, path)
    if is_bnb_4bit(config):
        return _from_bnb(path, device, dtype, progress)

    device = torch.device(device)
    if device.type == "cuda":
        # The quantize kernels' first call compiles (or loads) them: here once, not in every reading thread at once
        # (sizes that are multiples of 16, as every projection's, so Triton specializes them the same way).
        quantize_rows(torch.zeros(256, 256, dtype=dtype, device=device))

    def quantize(name: str, t: torch.Tensor):
        if not is_projection_weight(name):
            return t
        return quantize_rows(t) if rows_fit(t.shape) else quantize_nf4(t).dequantize(dtype)

    return read_weights(path, device, dtype, progress, transform=quantize)


def _from_bnb(path: Path, device: torch.device, dtype: torch.dtype, progress) -> dict:
    raw = read_weights(path, device, None, progress)  # stored dtypes: the quantization statistics stay fp32
    out: dict = {}
    for name in [k for k in raw if k.endswith(f".weight.{NF4_STATE}")]:
        wname = name.removesuffix(f".{NF4_STATE}")
        w = nf4_from_entries(wname, raw.__getitem__, device)
        for k in entry_names(wname):
            raw.pop(k, None)
        out[wname] = to_rows(w) if rows_fit(w.shape) and w.blocksize == 64 else w.dequantize(dtype)
    for k, v in raw.items():
        out[k] = v.to(dtype) if v.is_floating_point() else v
    return out


def is_rows(w) -> bool:
    return isinstance(w, NF4Rows)
