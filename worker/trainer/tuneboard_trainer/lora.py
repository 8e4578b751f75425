"""LoRA (torchtune-style): a small LoRALinear, a function that swaps it in, and PEFT-format I/O.

The frozen base weight keeps its name (`q_proj.weight`), and the adapter
matrices are `q_proj.lora_A.weight` / `q_proj.lora_B.weight`, so prefixing
`base_model.model.` yields exactly PEFT's saved key names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PEFT_PREFIX = "base_model.model."


class LoRALinear(nn.Module):
    """y = x W^T + b + (alpha / r) * B(A(dropout(x)))  with W, b frozen."""

    def __init__(self, in_dim: int, out_dim: int, rank: int, alpha: float, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_dim, out_dim
        self.rank, self.alpha = rank, alpha
        self.scaling = alpha / rank
        self.weight = nn.Parameter(torch.empty(out_dim, in_dim), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_dim), requires_grad=False) if bias else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(in_dim, rank, bias=False)  # (r, in)
        self.lora_B = nn.Linear(rank, out_dim, bias=False)  # (out, r)
        self.reset_lora_parameters()

    def reset_lora_parameters(self):
        # Same as peft: A ~ kaiming-uniform(a=sqrt(5)), B = 0, so the adapter starts as a no-op.
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    @classmethod
    def from_linear(cls, base: nn.Linear, rank: int, alpha: float, dropout: float) -> "LoRALinear":
        m = cls(base.in_features, base.out_features, rank, alpha, dropout, bias=base.bias is not None)
        # Adapter params live in fp32 on the base weight's device; autocast handles bf16 matmuls.
        m.to(base.weight.device)
        m.weight = nn.Parameter(base.weight.data, requires_grad=False)
        if base.bias is not None:
            m.bias = nn.Parameter(base.bias.data, requires_grad=False)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        a = self.lora_A(self.dropout(x).to(self.lora_A.weight.dtype))
        return out + (self.lora_B(a) * self.scaling).to(out.dtype)


def resolve_targets(targets: Union[str, Iterable[str]]) -> list[str]:
    if isinstance(targets, str):
        targets = ALL_TARGETS if targets == "all" else [t.strip() for t in targets.split(",") if t.strip()]
    targets = list(targets)
    bad = [t for t in targets if t not in ALL_TARGETS]
    if bad:
        raise ValueError(f"unknown LoRA target module(s) {bad}; choose from {list(ALL_TARGETS)} or 'all'")
    return targets


def apply_lora(model: nn.Module, targets="all", r: int = 8, alpha: float = 16, dropout: float = 0.0) -> nn.Module:
    """Replace every nn.Linear whose attribute name is in `targets` with a LoRALinear (in place)."""
    targets = resolve_targets(targets)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if name in targets and isinstance(child, nn.Linear):
                setattr(parent, name, LoRALinear.from_linear(child, r, alpha, dropout))
    model.lora_config = {"r": r, "lora_alpha": alpha, "lora_dropout": dropout, "target_modules": targets}
    mark_only_lora_trainable(model)
    return model


def mark_only_lora_trainable(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        p.requires_grad = ".lora_A." in name or ".lora_B." in name


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Adapter weights only, under PEFT's key names."""
    return {
        PEFT_PREFIX + k: v.detach().float().cpu().contiguous()
        for k, v in model.state_dict().items()
        if ".lora_A." in k or ".lora_B." in k
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
        "target_modules": sorted(lc["target_modules"]),
        "base_model_name_or_path": str(base_model_name_or_path),
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "modules_to_save": None,
        "inference_mode": True,
    }
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(lora_state_dict(model), str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    return out


def load_adapter(model: nn.Module, adapter_dir) -> nn.Module:
    """Apply LoRA per `adapter_config.json` and load the saved A/B weights (in place)."""
    from safetensors.torch import load_file

    d = Path(adapter_dir)
    cfg = json.loads((d / "adapter_config.json").read_text())
    if cfg.get("peft_type") != "LORA":
        raise ValueError(f"{d}: only LORA adapters are supported, got {cfg.get('peft_type')!r}")
    if cfg.get("use_dora") or cfg.get("use_rslora"):
        raise ValueError(f"{d}: DoRA / rsLoRA adapters are not supported")
    apply_lora(model, cfg["target_modules"], cfg["r"], cfg["lora_alpha"], 0.0)
    sd = load_file(str(d / "adapter_model.safetensors"))
    # PEFT may store keys with or without the adapter name ("lora_A.default.weight").
    sd = {k[len(PEFT_PREFIX):].replace(".default.", "."): v for k, v in sd.items()}
    own = {k for k in model.state_dict() if ".lora_A." in k or ".lora_B." in k}
    if set(sd) != own:
        raise ValueError(f"{d}: adapter keys do not match the model (e.g. {sorted(set(sd) ^ own)[:3]})")
    model.load_state_dict(sd, strict=False)
    return model


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold each adapter into its base weight (W += scaling * B @ A) and restore plain nn.Linear."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                w = child.weight.float() + child.scaling * (child.lora_B.weight.float() @ child.lora_A.weight.float())
                lin = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None,
                                device=w.device, dtype=child.weight.dtype)
                lin.weight.copy_(w.to(child.weight.dtype))
                if child.bias is not None:
                    lin.bias.copy_(child.bias)
                lin.requires_grad_(False)
                setattr(parent, name, lin)
    return model
