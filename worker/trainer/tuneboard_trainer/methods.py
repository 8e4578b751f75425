"""Fine-tuning methods (LLaMA-Factory's `finetuning_type`): which parameters train, and how results are saved.

    lora    apply LoRA (plain / rsLoRA / DoRA, see lora.py); only the adapter trains; saved as a PEFT adapter
    freeze  only the last N decoder layers train (optionally only some of their modules); saved as a full
            Hugging Face model directory
    full    every parameter trains; saved as a full Hugging Face model directory

The train loop calls `prepare_model` once after `load_pretrained` (seed first: LoRA init is random),
and `save_trained` for checkpoints and the final result.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

import torch
import torch.nn as nn

from .lora import LoRALinear, apply_lora, save_adapter
from .quant.linear import QuantizedLinear
from .model import Transformer
from .hf_weights import save_hf_model

METHODS = ("lora", "freeze", "full")
DEFAULT_MAX_SHARD_BYTES = 5 * 1024**3  # transformers' default max_shard_size ("5GB")
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "vocab.json",
    "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json",
)


@dataclass
class LoraSettings:
    """Keyword arguments of `apply_lora` (LLaMA-Factory: lora_target, lora_rank, lora_alpha, ...)."""

    targets: Union[str, list] = "all"  # "all" or names among q/k/v/o/gate/up/down_proj
    r: int = 8
    alpha: float = 16
    dropout: float = 0.0
    use_rslora: bool = False  # scaling alpha / sqrt(r)
    use_dora: bool = False  # weight-decomposed LoRA (magnitude vector per output row)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied embeddings count once; a quantized weight counts its elements."""
    params = list(model.parameters())
    quantized = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, QuantizedLinear))
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params) + quantized


def freeze_trainable_names(
    model: Transformer,
    freeze_trainable_layers: int = 2,
    freeze_trainable_modules: Union[str, Iterable[str]] = "all",
    freeze_extra_modules: Optional[Iterable[str]] = None,
) -> list[str]:
    """Parameter names the "freeze" method trains (LLaMA-Factory semantics).

    freeze_trainable_layers: N > 0 -> the last N decoder layers, N < 0 -> the first |N|.
    freeze_trainable_modules: "all", or module names inside a layer, matched as whole dotted
    components of the parameter path: "mlp", "self_attn", "q_proj", "mlp.down_proj", "input_layernorm".
    freeze_extra_modules: non-layer modules that also train: "embed_tokens", "norm", "lm_head".
    """
    n_layers = len(model.model.layers)
    n = int(freeze_trainable_layers)
    if n == 0 or abs(n) > n_layers:
        raise ValueError(f"freeze_trainable_layers must be in [-{n_layers}, -1] or [1, {n_layers}], got {n}")
    layer_ids = range(n_layers - n, n_layers) if n > 0 else range(-n)
    if isinstance(freeze_trainable_modules, str):
        modules = [m.strip() for m in freeze_trainable_modules.split(",") if m.strip()]
    else:
        modules = list(freeze_trainable_modules)
    if not modules:
        raise ValueError("freeze_trainable_modules must be 'all' or a non-empty list of module names")
    extra = list(freeze_extra_modules or [])
    names = [name for name, _ in model.named_parameters()]

    def in_layer(name: str) -> Optional[tuple[int, str]]:
        if not name.startswith("model.layers."):
            return None
        idx, rest = name[len("model.layers."):].split(".", 1)
        return int(idx), rest

    chosen = []
    for m in modules:
        hits = [nm for nm in names if (loc := in_layer(nm)) and loc[0] in layer_ids
                and (m == "all" or f".{m}." in f".{loc[1]}")]
        if not hits:
            raise ValueError(f"freeze_trainable_modules: {m!r} matches no parameter of the trainable layers")
        chosen += hits
    for m in extra:
        hits = [nm for nm in names if in_layer(nm) is None and f".{m}." in f".{nm}"]
        if not hits:
            raise ValueError(f"freeze_extra_modules: {m!r} matches no non-layer parameter")
        chosen += hits
    return sorted(set(chosen), key=names.index)


def prepare_model(
    model: Transformer,
    method: str,
    *,
    lora: Union[LoraSettings, dict, None] = None,
    freeze_trainable_layers: int = 2,
    freeze_trainable_modules: Union[str, Iterable[str]] = "all",
    freeze_extra_modules: Optional[Iterable[str]] = None,
    upcast_trainable: bool = True,
) -> tuple[int, int]:
    """Set up `model` (in place) for `method` and return (trainable, total) parameter counts.

    lora:   `apply_lora` with `lora` (LoraSettings or a dict of its fields); only adapter params train.
    freeze: only the parameters chosen by `freeze_trainable_names` train.
    full:   every parameter trains.
    upcast_trainable: trainable parameters are stored in fp32 (master weights; use autocast for bf16).
    """
    if method not in METHODS:
        raise ValueError(f"unknown finetuning method {method!r}; choose from {', '.join(METHODS)}")
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("model already has LoRA layers; prepare a freshly loaded model")
    if method == "lora":
        s = lora if isinstance(lora, LoraSettings) else LoraSettings(**(lora or {}))
        apply_lora(model, s.targets, s.r, s.alpha, s.dropout, use_rslora=s.use_rslora, use_dora=s.use_dora)
        model.lora_settings = asdict(s)
    elif method == "freeze":
        train = set(freeze_trainable_names(model, freeze_trainable_layers, freeze_trainable_modules,
                                           freeze_extra_modules))
        for name, p in model.named_parameters():
            p.requires_grad = name in train
    else:
        for p in model.parameters():
            p.requires_grad = True
    if upcast_trainable:
        for p in model.parameters():
            if p.requires_grad and p.is_floating_point():
                p.data = p.data.float()
    model.finetuning_method = method
    return count_params(model)


def _config_dtype(cfg: dict) -> Optional[torch.dtype]:
    name = cfg.get("dtype") or cfg.get("torch_dtype")
    return getattr(torch, name) if isinstance(name, str) and isinstance(getattr(torch, name, None), torch.dtype) else None


def copy_tokenizer_files(src, out_dir) -> list[str]:
    src, out = Path(src), Path(out_dir)
    copied = []
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, out / name)
            copied.append(name)
    return copied


def save_trained(
    model: Transformer,
    out_dir,
    method: str,
    base_model_path,
    tokenizer_dir=None,
    *,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    dtype: Optional[torch.dtype] = None,
) -> Path:
    """Save the training result of `method` to `out_dir` and return it.

    lora:        PEFT adapter (adapter_config.json + adapter_model.safetensors), loadable by
                 `peft.PeftModel.from_pretrained(base, out_dir)` and by our `load_adapter`.
    freeze/full: a Hugging Face model directory: config.json and generation_config.json copied from
                 `base_model_path`, weights via `save_hf_model` (sharded above `max_shard_bytes`, with
                 model.safetensors.index.json), loadable by `AutoModelForCausalLM.from_pretrained(out_dir)`.
                 Weights are cast to `dtype`, by default the dtype config.json names (else kept as they are).
    Both: tokenizer files copied from `tokenizer_dir` (default `base_model_path`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown finetuning method {method!r}; choose from {', '.join(METHODS)}")
    out, base = Path(out_dir), Path(base_model_path)
    out.mkdir(parents=True, exist_ok=True)
    has_lora = any(isinstance(m, LoRALinear) for m in model.modules())
    if method == "lora":
        if not has_lora:
            raise ValueError("method 'lora' but the model has no LoRA layers")
        save_adapter(model, out, str(base_model_path))
    else:
        if has_lora:
            raise ValueError(f"method {method!r} but the model has LoRA layers; merge_lora first to export")
        cfg = json.loads((base / "config.json").read_text())
        dtype = dtype or _config_dtype(cfg)
        to_save = model
        if dtype is not None and any(p.is_floating_point() and p.dtype != dtype for p in model.parameters()):
            to_save = _CastView(model, dtype)
        save_hf_model(to_save, out, max_shard_bytes)
        shutil.copyfile(base / "config.json", out / "config.json")
        if (base / "generation_config.json").is_file():
            shutil.copyfile(base / "generation_config.json", out / "generation_config.json")
    copy_tokenizer_files(tokenizer_dir or base, out)
    return out


class _CastView:
    """Duck-typed stand-in for save_hf_model: the model's state dict cast to one dtype, without copying the model."""

    def __init__(self, model: Transformer, dtype: torch.dtype):
        self.config, self._model, self._dtype = model.config, model, dtype

    def state_dict(self):
        return {k: v.to(self._dtype) if v.is_floating_point() else v for k, v in self._model.state_dict().items()}
