"""LoRA (torchtune-style): a small LoRALinear, a function that swaps it in, and PEFT-format I/O.

Variants, with peft's semantics: plain LoRA, rsLoRA (scaling alpha / sqrt(r)) and DoRA
(a trainable magnitude per output row over the detached row norm of W + s B A).

The frozen base weight keeps its name (`q_proj.weight`), and the adapter
matrices are `q_proj.lora_A.weight` / `q_proj.lora_B.weight` (DoRA: `q_proj.lora_magnitude_vector`),
so prefixing `base_model.model.` yields exactly PEFT's saved key names.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from pathlib import Path
from typing import Iterable, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .contracts.enums import LORA_TARGETS
from .quant.linear import QuantizedLinear

ALL_TARGETS = LORA_TARGETS
PEFT_PREFIX = "base_model.model."


class LoRALinear(nn.Module):
    """A frozen nn.Linear (W, b) plus a trainable low-rank update, with PEFT's variants.

    plain / rsLoRA:  y = x W^T + b + s * B(A(dropout(x)))     s = alpha / r, or alpha / sqrt(r) (rsLoRA)
    DoRA:            y = x W^T + b + (m / n - 1) * (x' W^T) + (m / n) * s * B(A(x'))
                     x' = dropout(x), m = `lora_magnitude_vector` (out,), n = ||W + s B A|| per output row
                     (norm over the input dim), detached from the graph as in peft / the DoRA paper.
                     Without dropout (or in eval) this is (m / n) * (W + s B A) x + b.

    A quantized base (QuantizedLinear, `from_linear` on one) is kept as the `quantized` submodule and `weight`
    is None: x W^T goes through its dequantizing matmul, and W (norms, merges) is its dequantized weight.
    """

    def __init__(self, in_dim: int, out_dim: int, rank: int, alpha: float, dropout: float = 0.0, bias: bool = False,
                 use_rslora: bool = False, use_dora: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_dim, out_dim
        self.rank, self.alpha = rank, alpha
        self.use_rslora, self.use_dora = use_rslora, use_dora
        self.scaling = alpha / math.sqrt(rank) if use_rslora else alpha / rank
        self.weight = nn.Parameter(torch.empty(out_dim, in_dim), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_dim), requires_grad=False) if bias else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(in_dim, rank, bias=False)  # (r, in)
        self.lora_B = nn.Linear(rank, out_dim, bias=False)  # (out, r)
        # DoRA magnitude; the attribute name makes the state-dict key `<layer>.lora_magnitude_vector`, as peft saves it.
        self.lora_magnitude_vector = nn.Parameter(torch.ones(out_dim)) if use_dora else None
        self.quantized: Optional[QuantizedLinear] = None
        self.reset_lora_parameters()

    def base_weight(self) -> torch.Tensor:
        """W (out, in): the frozen weight, or the quantized base's dequantized weight."""
        return self.weight if self.quantized is None else self.quantized.dequantized_weight()

    def base_matmul(self, x: torch.Tensor) -> torch.Tensor:
        """x W^T (no bias)."""
        if self.quantized is None:
            return F.linear(x, self.weight)
        return self.quantized(x) if self.quantized.bias is None else self.quantized(x) - self.quantized.bias

    def reset_lora_parameters(self):
        # Same as peft: A ~ kaiming-uniform(a=sqrt(5)), B = 0, so the adapter starts as a no-op.
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def delta_weight(self) -> torch.Tensor:
        """s * B @ A in fp32, shape (out, in)."""
        return self.scaling * (self.lora_B.weight.float() @ self.lora_A.weight.float())

    def weight_norm(self) -> torch.Tensor:
        """||W + s B A|| over the input dim, (out,) fp32, detached (peft's `get_weight_norm`)."""
        with torch.no_grad():
            return torch.linalg.norm(self.base_weight().float() + self.delta_weight(), dim=1)

    @torch.no_grad()
    def init_dora_magnitude(self) -> None:
        """m = ||W + s B A|| (peft's DoRA init), so the layer initially equals plain LoRA."""
        self.lora_magnitude_vector.copy_(self.weight_norm().to(self.lora_magnitude_vector.dtype))

    @classmethod
    def from_linear(cls, base: Union[nn.Linear, QuantizedLinear], rank: int, alpha: float, dropout: float,
                    use_rslora: bool = False, use_dora: bool = False) -> "LoRALinear":
        if isinstance(base, QuantizedLinear):
            return cls._from_quantized(base, rank, alpha, dropout, use_rslora, use_dora)
        m = cls(base.in_features, base.out_features, rank, alpha, dropout, bias=base.bias is not None,
                use_rslora=use_rslora, use_dora=use_dora)
        # Adapter params live in fp32 on the base weight's device; autocast handles bf16 matmuls.
        # The base weight goes in before the move, so the (never touched) fp32 placeholder is not copied to
        # the GPU: at 8B that would be a 30 GB host-to-device copy of garbage at every load.
        m.weight = nn.Parameter(base.weight.data, requires_grad=False)
        if base.bias is not None:
            m.bias = nn.Parameter(base.bias.data, requires_grad=False)
        m.to(base.weight.device)
        if use_dora:
            m.init_dora_magnitude()
        return m

    @classmethod
    def _from_quantized(cls, base: QuantizedLinear, rank, alpha, dropout, use_rslora, use_dora) -> "LoRALinear":
        # Built like a plain layer (same random draws, so a seed gives the same adapter init as on a bf16 base),
        # then the host-side fp32 placeholder for W is dropped before anything moves to the base's device.
        m = cls(base.in_features, base.out_features, rank, alpha, dropout, bias=False,
                use_rslora=use_rslora, use_dora=use_dora)
        m.weight = None
        m.to(base.device)
        m.quantized = base  # its bias (if any) is added by its own forward
        if use_dora:
            m.init_dora_magnitude()
        return m

    # False inside adapters_disabled(): the layer is its frozen base (the reference model of dpo / kto).
    adapter_enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias) if self.quantized is None else self.quantized(x)
        if not self.adapter_enabled:
            return out
        xd = self.dropout(x)
        lora = self.lora_B(self.lora_A(xd.to(self.lora_A.weight.dtype)))
        if not self.use_dora:
            return out + (lora * self.scaling).to(out.dtype)
        mag = (self.lora_magnitude_vector / self.weight_norm()).to(out.dtype)  # (out,), grad flows to m only
        bias = self.bias if self.quantized is None else self.quantized.bias
        if isinstance(self.dropout, nn.Identity) or not self.training:
            base = out if bias is None else out - bias  # x W^T
        else:
            base = self.base_matmul(xd)  # peft recomputes the base product on the dropped-out input
        return out + (mag - 1) * base + mag * (lora * self.scaling).to(out.dtype)

    @torch.no_grad()
    def merged_weight(self) -> torch.Tensor:
        """The equivalent dense weight (in fp32): W + s B A, times m / ||W + s B A|| for DoRA."""
        return merged_weight(self.base_weight(), self.lora_A.weight, self.lora_B.weight, self.scaling,
                             self.lora_magnitude_vector if self.use_dora else None)


@torch.no_grad()
def merged_weight(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float,
                  magnitude: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The one merge formula (LoRALinear / merge_lora and export's streaming merge), in fp32:
    W + s B A; DoRA (magnitude m given): m / ||W + s B A|| * (W + s B A), row-wise.
    weight (out, in), lora_A (r, in), lora_B (out, r), magnitude (out,)."""
    w = weight.float() + scaling * (lora_B.float() @ lora_A.float())
    if magnitude is not None:
        w = (magnitude.float() / torch.linalg.norm(w, dim=1))[:, None] * w
    return w


def resolve_targets(targets: Union[str, Iterable[str]]) -> list[str]:
    if isinstance(targets, str):
        targets = ALL_TARGETS if targets == "all" else [t.strip() for t in targets.split(",") if t.strip()]
    targets = list(targets)
    bad = [t for t in targets if t not in ALL_TARGETS]
    if bad:
        raise ValueError(f"unknown LoRA target module(s) {bad}; choose from {list(ALL_TARGETS)} or 'all'")
    return targets


def apply_lora(model: nn.Module, targets="all", r: int = 8, alpha: float = 16, dropout: float = 0.0,
               use_rslora: bool = False, use_dora: bool = False) -> nn.Module:
    """Replace every nn.Linear whose attribute name is in `targets` with a LoRALinear (in place).

    use_rslora: scaling alpha / sqrt(r) instead of alpha / r. use_dora: add DoRA's magnitude vector.
    Leaves only the adapter parameters (A, B, DoRA magnitude) trainable.
    """
    targets = resolve_targets(targets)
    every = set(targets) == set(ALL_TARGETS)  # "all" (the run config spells it out): whatever this family has
    wrapped = {p.rsplit(".", 1)[-1] for p in
               _wrap_linears(model, lambda path, name: name in targets, r, alpha, dropout, use_rslora, use_dora)}
    # Families name their layers differently (Phi-3 fuses q/k/v into qkv_proj): a chosen name that is not there
    # would silently train nothing, so it is an error that lists the names this model has.
    missing = [] if every and wrapped else [t for t in targets if t not in wrapped]
    if missing:
        arch = getattr(getattr(model, "config", None), "architecture", "this model")
        have = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                       if isinstance(m, (nn.Linear, LoRALinear)) and n.rsplit(".", 1)[-1] in ALL_TARGETS})
        raise ValueError(f"lora_target: {arch} has no {', '.join(missing)} layers; its LoRA targets are "
                         f"{', '.join(have)}")
    model.lora_config = {"r": r, "lora_alpha": alpha, "lora_dropout": dropout,
                         "target_modules": [t for t in targets if t in wrapped],  # what adapter_config.json lists
                         "use_rslora": bool(use_rslora), "use_dora": bool(use_dora)}
    mark_only_lora_trainable(model)
    return model


def _wrap_linears(model: nn.Module, match, r, alpha, dropout, use_rslora, use_dora) -> list[str]:
    """Swap in LoRALinear for each nn.Linear child whose (full path, attribute name) satisfies `match`."""
    if r < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {r}")
    wrapped = []
    for parent_path, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            path = f"{parent_path}.{name}" if parent_path else name
            if isinstance(child, (nn.Linear, QuantizedLinear)) and match(path, name):
                if name not in ALL_TARGETS:
                    raise ValueError(f"LoRA on {path!r} is not supported; only {list(ALL_TARGETS)}")
                setattr(parent, name, LoRALinear.from_linear(child, r, alpha, dropout, use_rslora, use_dora))
                wrapped.append(path)
    return wrapped


def _peft_target_matcher(targets):
    """PEFT's `target_modules` semantics: a regex string is full-matched against module paths; a list
    matches a path equal to an entry or ending in "." + entry (peft 0.21 saves 'all-linear' as full paths)."""
    if isinstance(targets, str):
        if targets in ("all", "all-linear"):
            return lambda path, name: name in ALL_TARGETS
        return lambda path, name: re.fullmatch(targets, path) is not None
    targets = list(targets)
    return lambda path, name: any(path == t or path.endswith("." + t) for t in targets)


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """Every LoRALinear of `model` computes its base layer only while inside (peft's disable_adapter)."""
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    for m in layers:
        m.adapter_enabled = False
    try:
        yield model
    finally:
        for m in layers:
            m.adapter_enabled = True


def is_lora_param(name: str) -> bool:
    """True for adapter parameters: lora_A / lora_B weights and DoRA's lora_magnitude_vector."""
    return ".lora_A." in name or ".lora_B." in name or name.endswith(".lora_magnitude_vector")


def mark_only_lora_trainable(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        p.requires_grad = is_lora_param(name)


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Adapter weights only, under PEFT's key names (DoRA: `...q_proj.lora_magnitude_vector`)."""
    return {
        PEFT_PREFIX + k: v.detach().float().cpu().contiguous()
        for k, v in model.state_dict().items()
        if is_lora_param(k)
    }


def save_adapter(model: nn.Module, out_dir, base_model_name_or_path: str = "") -> Path:
    """Write `adapter_config.json` + `adapter_model.safetensors` loadable by `PeftModel.from_pretrained`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lc = model.lora_config
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": lc["r"],
        "lora_alpha": lc["lora_alpha"],
        "lora_dropout": lc["lora_dropout"],
        "target_modules": lc["target_modules"] if isinstance(lc["target_modules"], str) else sorted(lc["target_modules"]),
        "base_model_name_or_path": str(base_model_name_or_path),
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": bool(lc.get("use_rslora", False)),
        "use_dora": bool(lc.get("use_dora", False)),
        "modules_to_save": None,
        "inference_mode": True,
    }
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(lora_state_dict(model), str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    return out


def load_adapter(model: nn.Module, adapter_dir) -> nn.Module:
    """Apply LoRA per `adapter_config.json` and load the saved weights (in place).

    Reads adapters written by us or by peft: plain / rsLoRA / DoRA, target_modules as short names,
    full module paths (peft's saved 'all-linear') or a regex; any key mismatch is an error.
    """
    from safetensors.torch import load_file

    d = Path(adapter_dir)
    attach_adapter(model, read_adapter_config(d), d)
    sd = load_file(str(d / "adapter_model.safetensors"))
    # PEFT may store keys with or without the adapter name ("lora_A.default.weight"), and DoRA's
    # magnitude as `lora_magnitude_vector` (0.21) or `lora_magnitude_vector.default.weight` (state_dict form).
    sd = {_own_key(k): v for k, v in sd.items()}
    check_adapter_keys(model, sd, d)
    model.load_state_dict(sd, strict=False)
    return model


def read_adapter_config(adapter_dir) -> dict:
    """`adapter_config.json`, refused (ValueError) when it uses an option we do not implement."""
    d = Path(adapter_dir)
    cfg = json.loads((d / "adapter_config.json").read_text())
    if cfg.get("peft_type") != "LORA":
        raise ValueError(f"{d}: only LORA adapters are supported, got {cfg.get('peft_type')!r}")
    unsupported = [k for k in ("rank_pattern", "alpha_pattern") if cfg.get(k)]
    unsupported += [k for k in ("layers_to_transform", "modules_to_save", "trainable_token_indices") if cfg.get(k)]
    unsupported += [k for k in ("lora_bias", "fan_in_fan_out", "use_qalora") if cfg.get(k)]
    if cfg.get("bias", "none") != "none":
        unsupported.append("bias")
    if unsupported:
        raise ValueError(f"{d}: unsupported adapter_config options {unsupported}")
    return cfg


def attach_adapter(model: nn.Module, cfg: dict, adapter_dir) -> list[str]:
    """Wrap the modules `cfg` targets in (untrained) LoRALinear layers; returns their paths.
    Works on a meta-device model too (export uses it to learn each layer's scaling without weights)."""
    targets = cfg["target_modules"]
    use_rslora, use_dora = bool(cfg.get("use_rslora")), bool(cfg.get("use_dora"))
    wrapped = _wrap_linears(model, _peft_target_matcher(targets), cfg["r"], cfg["lora_alpha"], 0.0, use_rslora, use_dora)
    if not wrapped:
        raise ValueError(f"{adapter_dir}: target_modules {targets!r} match no module of the model")
    # Keep peft's own target spec, so re-saving reproduces exactly the wrapped modules.
    model.lora_config = {"r": cfg["r"], "lora_alpha": cfg["lora_alpha"], "lora_dropout": cfg.get("lora_dropout", 0.0),
                         "target_modules": targets, "use_rslora": use_rslora, "use_dora": use_dora}
    mark_only_lora_trainable(model)
    return wrapped


def check_adapter_keys(model: nn.Module, keys: Iterable[str], adapter_dir) -> None:
    """The adapter's weights (our key names) must be exactly the wrapped model's adapter parameters."""
    keys = set(keys)
    own = {k for k in model.state_dict() if is_lora_param(k)}
    if keys != own:
        raise ValueError(f"{adapter_dir}: adapter keys do not match the model (e.g. {sorted(keys ^ own)[:3]})")


def adapter_key_names(stored_keys: Iterable[str]) -> dict[str, str]:
    """Our key name -> the name stored in adapter_model.safetensors (peft's, possibly with `.default`)."""
    return {_own_key(k): k for k in stored_keys}


def _own_key(peft_key: str) -> str:
    k = peft_key[len(PEFT_PREFIX):] if peft_key.startswith(PEFT_PREFIX) else peft_key
    k = k.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")
    return re.sub(r"\.lora_magnitude_vector(\.default)?(\.weight)?$", ".lora_magnitude_vector", k)


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold each adapter into its base weight and restore plain nn.Linear layers.

    W' = W + s B A (s per plain / rsLoRA); DoRA: W' = m / ||W + s B A|| * (W + s B A), row-wise.
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                w = child.merged_weight()
                q = child.quantized
                dtype, bias = (child.weight.dtype, child.bias) if q is None else (q.weight_dtype, q.bias)
                lin = nn.Linear(child.in_features, child.out_features, bias=bias is not None,
                                device=w.device, dtype=dtype)
                lin.weight.copy_(w.to(dtype))
                if bias is not None:
                    lin.bias.copy_(bias)
                lin.requires_grad_(False)
                setattr(parent, name, lin)
    if hasattr(model, "lora_config"):
        del model.lora_config
    return model
