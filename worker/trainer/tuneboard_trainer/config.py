"""Training configuration (LLaMA-Factory field names), validated before any model is loaded."""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Optional, Union

from .lora import ALL_TARGETS
from .templates import SUPPORTED_TEMPLATES

FINETUNING_TYPES = ("lora", "freeze", "full")


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the offending field name."""


@dataclass
class TrainConfig:
    model_name_or_path: str  # HF-layout model directory (config.json, *.safetensors, tokenizer.json)
    dataset_dir: str  # directory holding dataset_info.json
    dataset: list  # dataset names registered in dataset_info.json (mixed in one run)
    output_dir: str  # adapter/model, checkpoints, trainer_log.jsonl, all_results.json, training_loss.png
    template: str = "llama3"  # llama3 | qwen | mistral | llama2 | default | tokenizer (tokenizer_config's Jinja)
    finetuning_type: str = "lora"  # lora | freeze | full
    use_rslora: bool = False  # LoRA scaling alpha / sqrt(r) instead of alpha / r
    use_dora: bool = False  # weight-decomposed LoRA (DoRA)
    freeze_trainable_layers: int = 2  # freeze: train the last N layers (negative: the first -N)
    freeze_trainable_modules: Union[str, list] = "all"  # freeze: "all" or module names inside those layers
    train_on_prompt: bool = False  # also put labels on prompt tokens
    mask_history: bool = False  # train only on the last assistant turn of each conversation
    packing: bool = False  # several samples per row (block-diagonal attention, positions restart)
    val_size: Union[int, float] = 0.0  # held-out split: fraction in [0, 1) or a sample count >= 1
    eval_steps: int = 100  # eval loss on the held-out split every N optimizer steps (and at the end)
    learning_rate: float = 5e-5  # peak AdamW learning rate
    num_train_epochs: float = 3.0  # passes over the data (fractional allowed)
    max_steps: Optional[int] = None  # optimizer steps; overrides num_train_epochs when set
    max_samples: int = 100000  # cap on records read per dataset (the first N)
    cutoff_len: int = 2048  # max tokens per example (longer ones are truncated per turn)
    per_device_train_batch_size: int = 2  # examples (rows when packing) per micro-batch
    gradient_accumulation_steps: int = 8  # micro-batches per optimizer step
    lr_scheduler_type: str = "cosine"  # cosine | linear | constant (after warmup)
    warmup_steps: int = 0  # linear warmup from 0 to learning_rate; wins over warmup_ratio when > 0
    warmup_ratio: float = 0.0  # warmup as a fraction of the total steps (used when warmup_steps is 0)
    max_grad_norm: float = 1.0  # gradient clipping threshold (0 disables clipping)
    weight_decay: float = 0.0  # AdamW decoupled weight decay (never on norms or biases)
    logging_steps: int = 5  # emit a `step` event every N optimizer steps
    save_steps: int = 100  # write output_dir/checkpoint-N every N steps (0: only the final save)
    lora_rank: int = 8  # LoRA r
    lora_alpha: float = 16  # LoRA alpha (scaling = alpha / r)
    lora_dropout: float = 0.0  # dropout on the LoRA input
    lora_target: Union[str, list] = "all"  # "all" or names among q/k/v/o/gate/up/down_proj
    seed: int = 42  # seeds init of LoRA A, shuffling, the val split and dropout
    compute_type: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16 (CPU: fp32 + warning)
    gradient_checkpointing: bool = True  # recompute each block in backward (less memory, ~30% slower)
    resume_from_checkpoint: Optional[str] = None  # a checkpoint-N directory of an earlier run with this config
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    fast_path: str = "auto"  # LoRA fast path (fast.py): auto (on CUDA) | on (also on CPU) | off (reference path)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise ConfigError("config: expected a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown field")
        missing = [f.name for f in fields(cls) if f.name not in d and f.default is MISSING]
        if missing:
            raise ConfigError(f"{missing[0]}: required")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path) -> "TrainConfig":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config: file {path} not found") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config: invalid JSON ({e})") from None
        return cls.from_dict(d)

    def validate(self) -> None:
        def err(name, msg):
            raise ConfigError(f"{name}: {msg}")

        def check_type(name, types, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            # bool is an int subclass in Python; never accept it for numbers.
            if isinstance(v, bool) or not isinstance(v, types):
                err(name, f"must be {' or '.join(t.__name__ for t in types)}, got {v!r}")

        for name in ("model_name_or_path", "dataset_dir", "output_dir", "template", "finetuning_type",
                     "lr_scheduler_type", "compute_type", "device", "fast_path"):
            check_type(name, (str,))
            if not getattr(self, name):
                err(name, "must not be empty")
        if isinstance(self.dataset, str):  # LLaMA-Factory also accepts "a,b"
            self.dataset = [s.strip() for s in self.dataset.split(",") if s.strip()]
        if not isinstance(self.dataset, list) or not self.dataset or not all(isinstance(s, str) and s for s in self.dataset):
            err("dataset", "must be a non-empty list of dataset names")
        for name in ("learning_rate", "num_train_epochs", "max_grad_norm", "weight_decay", "lora_alpha", "lora_dropout",
                     "warmup_ratio"):
            check_type(name, (int, float))
            setattr(self, name, float(getattr(self, name)))
            if not math.isfinite(getattr(self, name)):
                err(name, "must be finite")
        for name in ("max_samples", "cutoff_len", "per_device_train_batch_size", "gradient_accumulation_steps",
                     "warmup_steps", "logging_steps", "save_steps", "lora_rank", "seed", "eval_steps",
                     "freeze_trainable_layers"):
            check_type(name, (int,))
        check_type("max_steps", (int,), allow_none=True)

        if self.template not in SUPPORTED_TEMPLATES:
            err("template", f"unsupported template {self.template!r} (supported: {', '.join(SUPPORTED_TEMPLATES)})")
        if self.finetuning_type not in FINETUNING_TYPES:
            err("finetuning_type", f"unsupported {self.finetuning_type!r} (supported: {', '.join(FINETUNING_TYPES)})")
        for name in ("use_rslora", "use_dora", "train_on_prompt", "mask_history", "packing",
                     "gradient_checkpointing"):
            if not isinstance(getattr(self, name), bool):
                err(name, f"must be true or false, got {getattr(self, name)!r}")
        if self.freeze_trainable_layers == 0:
            err("freeze_trainable_layers", "must not be 0 (N > 0: the last N layers, N < 0: the first -N)")
        mods = self.freeze_trainable_modules
        if isinstance(mods, str):
            mods = ["all"] if mods.strip() == "all" else [m.strip() for m in mods.split(",") if m.strip()]
        if not isinstance(mods, list) or not mods or not all(
                isinstance(m, str) and m.replace("_", "").replace(".", "").isalnum() for m in mods):
            err("freeze_trainable_modules", "must be 'all' or a non-empty list of module names (e.g. mlp, self_attn)")
        self.freeze_trainable_modules = mods
        if isinstance(self.val_size, bool) or not isinstance(self.val_size, (int, float)):
            err("val_size", f"must be a fraction in [0, 1) or a count >= 1, got {self.val_size!r}")
        if isinstance(self.val_size, float) and not 0.0 <= self.val_size < 1.0:
            err("val_size", "a fraction must be in [0, 1); give a whole number for a sample count")
        if isinstance(self.val_size, int) and self.val_size < 0:
            err("val_size", "a count must be >= 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            err("warmup_ratio", "must be in [0, 1)")
        if self.resume_from_checkpoint is not None and (
                not isinstance(self.resume_from_checkpoint, str) or not self.resume_from_checkpoint):
            err("resume_from_checkpoint", "must be null or a checkpoint directory path")
        if self.learning_rate <= 0:
            err("learning_rate", "must be > 0")
        if self.max_steps is not None and self.max_steps < 1:
            err("max_steps", "must be >= 1")
        if self.max_steps is None and self.num_train_epochs <= 0:
            err("num_train_epochs", "must be > 0")
        for name in ("max_samples", "cutoff_len", "per_device_train_batch_size", "gradient_accumulation_steps",
                     "logging_steps", "lora_rank", "eval_steps"):
            if getattr(self, name) < 1:
                err(name, "must be >= 1")
        if self.cutoff_len < 4:
            err("cutoff_len", "must be >= 4")
        for name in ("warmup_steps", "save_steps", "seed", "max_grad_norm", "weight_decay"):
            if getattr(self, name) < 0:
                err(name, "must be >= 0")
        if self.lora_alpha <= 0:
            err("lora_alpha", "must be > 0")
        if not 0.0 <= self.lora_dropout < 1.0:
            err("lora_dropout", "must be in [0, 1)")
        if self.lr_scheduler_type not in ("cosine", "linear", "constant"):
            err("lr_scheduler_type", "must be one of cosine, linear, constant")
        if self.fast_path not in ("auto", "on", "off"):
            err("fast_path", "must be one of auto, on, off")
        if self.compute_type not in ("auto", "fp32", "bf16", "fp16"):
            err("compute_type", "must be one of auto, fp32, bf16, fp16")
        if not (self.device in ("auto", "cpu", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            err("device", "must be auto, cpu, cuda or cuda:N")
        targets = self.lora_target
        if isinstance(targets, str):
            targets = list(ALL_TARGETS) if targets == "all" else [t.strip() for t in targets.split(",") if t.strip()]
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
            err("lora_target", "must be 'all' or a non-empty list of module names")
        bad = [t for t in targets if t not in ALL_TARGETS]
        if bad:
            err("lora_target", f"unknown module(s) {bad}; choose from {', '.join(ALL_TARGETS)} or 'all'")
        self.lora_target = targets

