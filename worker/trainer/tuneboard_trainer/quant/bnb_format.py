"""bitsandbytes' serialized 4-bit layout (what transformers + bitsandbytes write in "-bnb-4bit" repositories),
read and written without bitsandbytes.

For a quantized linear layer `<m>` the safetensors file holds (bitsandbytes `QuantState.as_dict(packed=True)`,
saved by transformers under the weight's name):
  <m>.weight                                  uint8 (ceil(n / 2), 1)   two NF4 indices per byte, high nibble first
  <m>.weight.absmax                           uint8 (nblocks,)         (fp32 without double quantization)
  <m>.weight.quant_map                        fp32 (16,)               the NF4 code values
  <m>.weight.nested_absmax                    fp32 (ceil(nblocks / 256),)
  <m>.weight.nested_quant_map                 fp32 (256,)              the dynamic 8-bit map
  <m>.weight.quant_state.bitsandbytes__nf4    uint8 (k,)               UTF-8 JSON: quant_type, blocksize, dtype,
                                                                       shape, nested_blocksize, nested_dtype,
                                                                       nested_offset
and config.json has a `quantization_config` with quant_method "bitsandbytes" and load_in_4bit true.
Everything else (embeddings, norms, lm_head) is stored unquantized.
"""

from __future__ import annotations

import json
from typing import Optional

import torch

from .nf4 import NF4Weight

STATE_PREFIX = "quant_state.bitsandbytes__"
NF4_STATE = STATE_PREFIX + "nf4"
ENTRY_SUFFIXES = ("absmax", "quant_map", "nested_absmax", "nested_quant_map", NF4_STATE)


class BnbFormatError(ValueError):
    """A bitsandbytes-format checkpoint that this loader cannot read (in words)."""


def is_bnb_4bit(config: dict) -> bool:
    """True when a config.json dict declares a bitsandbytes 4-bit checkpoint."""
    qc = config.get("quantization_config") or {}
    return qc.get("quant_method") == "bitsandbytes" and bool(qc.get("load_in_4bit") or qc.get("_load_in_4bit"))


def check_bnb_config(config: dict, where) -> None:
    """Refuse, in words, what the NF4 reader does not implement (FP4, 8-bit bitsandbytes, other storage)."""
    qc = config.get("quantization_config") or {}
    if qc.get("quant_method") != "bitsandbytes":
        return
    if qc.get("load_in_8bit") or qc.get("_load_in_8bit"):
        raise BnbFormatError(f"{where}: bitsandbytes 8-bit (LLM.int8) checkpoints are not supported; "
                             "use the full-precision model with quantization_bit 8")
    if qc.get("bnb_4bit_quant_type", "nf4") != "nf4":
        raise BnbFormatError(f"{where}: bitsandbytes 4-bit type {qc.get('bnb_4bit_quant_type')!r} is not supported "
                             "(only nf4)")
    if qc.get("bnb_4bit_quant_storage", "uint8") != "uint8":
        raise BnbFormatError(f"{where}: bnb_4bit_quant_storage {qc['bnb_4bit_quant_storage']!r} is not supported "
                             "(only uint8)")


def quantization_config(compute_dtype: torch.dtype = torch.bfloat16, skip_modules: Optional[list] = None) -> dict:
    """The `quantization_config` transformers writes for BitsAndBytesConfig(load_in_4bit=True, nf4, double quant)."""
    return {
        "_load_in_4bit": True,
        "_load_in_8bit": False,
        "bnb_4bit_compute_dtype": str(compute_dtype).removeprefix("torch."),
        "bnb_4bit_quant_storage": "uint8",
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": True,
        "llm_int8_enable_fp32_cpu_offload": False,
        "llm_int8_has_fp16_weight": False,
        "llm_int8_skip_modules": skip_modules,
        "llm_int8_threshold": 6.0,
        "load_in_4bit": True,
        "load_in_8bit": False,
        "quant_method": "bitsandbytes",
    }


def quant_state_blob(state: dict) -> torch.Tensor:
    """A dict as bitsandbytes packs it: the UTF-8 bytes of its JSON text, uint8 (k,)."""
    return torch.tensor(list(json.dumps(state).encode("utf-8")), dtype=torch.uint8)


def nf4_entries(name: str, w: NF4Weight) -> dict[str, torch.Tensor]:
    """The safetensors entries of weight `name` (e.g. 'model.layers.0.mlp.up_proj.weight'), on the CPU."""
    if w.nested_absmax is None:
        raise BnbFormatError("writing requires a double-quantized NF4 weight")
    state = {"quant_type": "nf4", "blocksize": w.blocksize, "dtype": str(w.dtype).removeprefix("torch."),
             "shape": list(w.shape), "nested_blocksize": w.nested_blocksize, "nested_dtype": "float32",
             "nested_offset": w.offset}
    # The code tables are copied: weights share them (nf4._constants), and safetensors refuses shared memory.
    cpu = {name: w.packed, f"{name}.absmax": w.absmax, f"{name}.quant_map": w.code.clone(),
           f"{name}.nested_absmax": w.nested_absmax, f"{name}.nested_quant_map": w.nested_code.clone(),
           f"{name}.{NF4_STATE}": quant_state_blob(state)}
    return {k: v.detach().cpu().contiguous() for k, v in cpu.items()}


def nf4_from_entries(name: str, get, device="cpu") -> NF4Weight:
    """The NF4Weight stored under weight `name`; get(key) returns a stored tensor (KeyError when absent)."""
    try:
        state = json.loads(bytes(get(f"{name}.{NF4_STATE}").cpu().tolist()).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BnbFormatError(f"{name}: unreadable bitsandbytes quant_state ({e})") from None
    if state.get("quant_type") != "nf4":
        raise BnbFormatError(f"{name}: bitsandbytes quant_type {state.get('quant_type')!r} is not supported (only nf4)")
    dtype = getattr(torch, str(state.get("dtype")), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise BnbFormatError(f"{name}: unknown dtype {state.get('dtype')!r} in its quant_state")
    shape = tuple(int(s) for s in state["shape"])
    packed = get(name).to(device)
    n = 1
    for s in shape:
        n *= s
    if packed.dtype != torch.uint8 or packed.numel() != (n + 1) // 2:
        raise BnbFormatError(f"{name}: packed weight {packed.dtype} with {packed.numel()} bytes does not hold "
                             f"shape {list(shape)}")
    nested = "nested_offset" in state
    return NF4Weight(
        packed=packed.reshape(-1, 1), absmax=get(f"{name}.absmax").to(device),
        nested_absmax=get(f"{name}.nested_absmax").to(device).float() if nested else None,
        nested_code=get(f"{name}.nested_quant_map").to(device).float() if nested else None,
        offset=float(state.get("nested_offset", 0.0)), code=get(f"{name}.quant_map").to(device).float(),
        shape=shape, dtype=dtype, blocksize=int(state["blocksize"]),
        nested_blocksize=int(state.get("nested_blocksize", 256)))


def entry_names(weight_name: str) -> list[str]:
    """Every key a quantized weight occupies in the file."""
    return [weight_name] + [f"{weight_name}.{s}" for s in ENTRY_SUFFIXES]
