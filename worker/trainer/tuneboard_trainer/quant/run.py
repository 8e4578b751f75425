"""What a training run does with `quantization_bit` / `quantization_method`: which method, and the model load."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..contracts.enums import QUANTIZABLE_METHODS, QUANTIZATION_METHOD_BITS
from ..validation import ConfigError
from .bnb_format import BnbFormatError, is_bnb_4bit
from .eightbit import fp8_available
from .kernels import triton_available
from .load import load_quantized, read_config

METHOD_BITS = QUANTIZATION_METHOD_BITS  # generated from lib/schemas/run-config.ts, as is the rule's other half
FP8_MIN_CAPABILITY = (8, 9)  # Ada / Hopper: the first GPUs with FP8 tensor cores


def fp8_supported(device: torch.device) -> bool:
    """FP8 base weights need torch's float8 types and, on a GPU, compute capability >= 8.9 (the CPU path
    dequantizes, so it only needs the dtype)."""
    if not fp8_available():
        return False
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= FP8_MIN_CAPABILITY
    return True


def resolve_method(cfg, device: torch.device) -> Optional[str]:
    """nf4 | int8 | fp8 for a quantized run, None for full-precision base weights; ConfigError (in words) for a
    method that does not fit the bit width, the device or the finetuning method."""
    bits, method = cfg.quantization_bit, cfg.quantization_method
    if bits == "none":
        if method != "auto":
            raise ConfigError(f"quantization_method: {method} needs quantization_bit {METHOD_BITS[method]} "
                              "(it is none)")
        return None
    if cfg.finetuning_type not in QUANTIZABLE_METHODS:
        raise ConfigError(f"quantization_bit: quantized base weights train only with LoRA "
                          f"(finetuning_type is {cfg.finetuning_type})")
    if method == "auto":
        if bits == "4":
            return "nf4"
        return "fp8" if device.type == "cuda" and fp8_supported(device) else "int8"
    if METHOD_BITS[method] != bits:
        article = "an" if METHOD_BITS[method] == "8" else "a"
        raise ConfigError(f"quantization_method: {method} is {article} {METHOD_BITS[method]}-bit method; "
                          f"quantization_bit is {bits}")
    if method == "fp8" and not fp8_supported(device):
        raise ConfigError("quantization_method: fp8 needs a GPU of compute capability 8.9 or newer "
                          "(use int8 or auto)")
    return method


def needs_quant_loader(model_dir, method: Optional[str]) -> bool:
    """A quantized run, or a bitsandbytes 4-bit checkpoint (which the plain loader cannot read)."""
    return method is not None or is_bnb_4bit(read_config(model_dir))


def load_run_model(model_dir: Path, method: Optional[str], dtype: torch.dtype, device: torch.device):
    """The run's model with quantized (or, for a bitsandbytes checkpoint without quantization, dequantized)
    projections; a checkpoint it cannot read is a ConfigError on model_name_or_path."""
    try:
        return load_quantized(model_dir, method, dtype=dtype, device=device)
    except BnbFormatError as e:
        raise ConfigError(f"model_name_or_path: {e}") from None


def kernels_ready(device: torch.device) -> bool:
    """Whether quantized layers run the Triton kernels here (CUDA with triton), which the fast path needs."""
    return device.type == "cuda" and triton_available()


def reference_path_note(method: Optional[str], bits: str) -> str:
    """The log line of a quantized run without the GPU kernels (the CPU, or no triton)."""
    return (f"fast path off: quantized base weights ({method}, quantization_bit {bits}) without the GPU kernels "
            "train on the reference path (dequantize, then matmul)")
