"""Load a checkpoint with quantized projection weights, one tensor at a time; save a bitsandbytes 4-bit one.

The decoder's seven projections (q/k/v/o, gate/up/down) are quantized; embeddings, norms and lm_head stay in the
compute dtype, as bitsandbytes leaves them. Each projection is read, quantized on the target device and its dense
copy dropped before the next one is read, so the dense model never exists in memory as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn as nn

from ..contracts.enums import LORA_TARGETS
from ..model import ModelConfig, Transformer, rope_inv_freq
from .bnb_format import NF4_STATE, check_bnb_config, entry_names, nf4_entries, nf4_from_entries, quantization_config
from .linear import QuantizedLinear, quantize_weight
from .nf4 import NF4Weight


def read_config(path) -> dict:
    cfg_file = Path(path) / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{path}: config.json not found")
    return json.loads(cfg_file.read_text())


class _Files:
    """Lazy access to the tensors of a checkpoint directory's safetensors files, one tensor per read."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        index = path / "model.safetensors.index.json"
        if (path / "model.safetensors").exists():
            files = ["model.safetensors"]
        elif index.exists():
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        else:
            raise FileNotFoundError(f"{path}: no model.safetensors or model.safetensors.index.json")
        self.handles = [safe_open(str(path / f), framework="pt", device="cpu") for f in files]
        self.where = {k: h for h in self.handles for k in h.keys()}

    def keys(self) -> set[str]:
        return set(self.where)

    def get(self, key: str) -> torch.Tensor:
        return self.where[key].get_tensor(key)


def _projection_paths(model: Transformer) -> list[tuple[nn.Module, str, str]]:
    """(parent module, attribute, full path) of every projection Linear in the decoder blocks."""
    out = []
    for parent_path, parent in model.named_modules():
        if not parent_path.startswith("model.layers."):
            continue
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and name in LORA_TARGETS:
                out.append((parent, name, f"{parent_path}.{name}"))
    return out


def load_quantized(path, method: Optional[str], dtype: torch.dtype = torch.float32, device="cpu",
                   on_layer: Optional[Callable[[str], None]] = None) -> Transformer:
    """A Transformer whose projections are QuantizedLinear layers (method nf4 | int8 | fp8), or plain Linear layers
    (method None: a bitsandbytes checkpoint dequantized into `dtype`). Other tensors are cast to `dtype`.

    A bitsandbytes NF4 weight is kept as stored for method nf4 (no second rounding; it dequantizes through its
    stored dtype, as bitsandbytes does), and dequantized first for the other methods. on_layer(path) is called after each projection (progress, tests)."""
    path = Path(path)
    device = torch.device(device)
    raw = read_config(path)
    check_bnb_config(raw, path)
    cfg = ModelConfig.from_hf(raw)
    with torch.device("meta"):
        model = Transformer(cfg)
    files = _Files(path)
    keys, used = files.keys(), set()
    projections = _projection_paths(model)
    expected = set(model.state_dict().keys()) - {f"{p}.{t}" for _, _, p in projections for t in ("weight", "bias")}
    for parent, name, mpath in projections:
        wname, bname = f"{mpath}.weight", f"{mpath}.bias"
        has_bias = getattr(parent, name).bias is not None
        if wname not in keys or (has_bias and bname not in keys):
            raise ValueError(f"{path}: checkpoint does not match config (missing {wname if wname not in keys else bname})")
        bias = files.get(bname).to(device, dtype) if has_bias else None
        if f"{wname}.{NF4_STATE}" in keys:
            stored = nf4_from_entries(wname, files.get, device)
            used.update(entry_names(wname))
            if method == "nf4":
                module = QuantizedLinear(stored, bias)
            else:
                dense = stored.dequantize(dtype)  # via the stored dtype, as bitsandbytes dequantizes
                module = _dense_or_quantized(dense, bias, method)
        elif any(k.startswith(wname + ".") for k in keys):
            raise ValueError(f"{path}: {wname} has quantization entries this loader does not know "
                             f"({sorted(k for k in keys if k.startswith(wname + '.'))[:3]})")
        else:
            used.add(wname)
            module = _dense_or_quantized(files.get(wname).to(device, dtype), bias, method)
        if has_bias:
            used.add(bname)
        setattr(parent, name, module)
        if on_layer is not None:
            on_layer(mpath)
    rest = {k for k in keys - used if not k.endswith("rotary_emb.inv_freq")}
    if cfg.tie_word_embeddings:
        rest.discard("lm_head.weight")
        expected.discard("lm_head.weight")
    missing, unexpected = expected - rest, rest - expected
    if missing or unexpected:
        raise ValueError(f"{path}: checkpoint does not match config "
                         f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    sd = {}
    for k in rest:
        v = files.get(k)
        sd[k] = v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
    model.load_state_dict(sd, strict=False, assign=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.inv_freq = rope_inv_freq(cfg).to(device)
    return model.eval()


def _dense_or_quantized(weight: torch.Tensor, bias: Optional[torch.Tensor], method: Optional[str]) -> nn.Module:
    if method is None:
        with torch.device("meta"):
            lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        lin.weight = nn.Parameter(weight, requires_grad=False)
        if bias is not None:
            lin.bias = nn.Parameter(bias, requires_grad=False)
        return lin
    q = QuantizedLinear(quantize_weight(weight, method), bias)
    del weight
    return q


def save_bnb_4bit(model: Transformer, out_dir, config: dict) -> Path:
    """Write `model.safetensors` + config.json (`config` plus a bitsandbytes quantization_config) in the layout
    transformers + bitsandbytes load. Projections that are NF4 QuantizedLinear layers are written in bitsandbytes'
    NF4 entries; every other tensor as it is. LoRA layers must be merged first."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for mpath, module in model.named_modules():
        if ".lora_" in mpath or hasattr(module, "lora_A"):
            raise ValueError(f"unmerged LoRA layer {mpath}; merge it first")
        if isinstance(module, QuantizedLinear):
            if not isinstance(module.qweight, NF4Weight):
                raise ValueError(f"{mpath}: only NF4 layers have a bitsandbytes 4-bit format ({module.method} given)")
            tensors.update(nf4_entries(f"{mpath}.weight", module.qweight))
            if module.bias is not None:
                tensors[f"{mpath}.bias"] = module.bias.detach().cpu().contiguous()
    for k, v in model.state_dict().items():
        if k.split(".")[-1] not in ("weight", "bias") or k in tensors:
            continue
        if ".quantized." in k:
            continue
        tensors[k] = v.detach().cpu().contiguous()
    if model.config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    compute = next((m.weight_dtype for m in model.modules() if isinstance(m, QuantizedLinear)), torch.bfloat16)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(
        {**config, "quantization_config": quantization_config(compute, ["lm_head"])}, indent=2) + "\n")
    return out
