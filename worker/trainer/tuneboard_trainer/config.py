"""Training configuration (LLaMA-Factory field names), validated before any model is loaded.

The rules and defaults are the run config's zod schema (lib/schemas/run-config.ts), generated into
contracts/trainer_config.schema.json and checked by validation.py; the dataclass only gives the
validated values names and Python types. Checks that need the model or the filesystem live where
those are opened (train.py, methods.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .contracts.enums import LORA_TARGETS
from .validation import ConfigError, validate

__all__ = ["ConfigError", "TrainConfig"]

_FLOAT_FIELDS = ("learning_rate", "num_train_epochs", "max_grad_norm", "weight_decay", "lora_alpha", "lora_dropout",
                 "warmup_ratio", "pref_beta", "pref_ftx", "simpo_gamma", "kto_chosen_weight", "kto_rejected_weight",
                 "early_stopping_min_delta")


@dataclass
class TrainConfig:
    model_name_or_path: str  # HF-layout model directory (config.json, *.safetensors, tokenizer.json)
    dataset_dir: str  # directory holding dataset_info.json
    dataset: list  # dataset names registered in dataset_info.json (mixed in one run)
    output_dir: str  # adapter/model, checkpoints, trainer_log.jsonl, all_results.json, training_loss.png
    stage: str = "sft"  # pt | sft | rm | dpo | kto (stages.py says which the trainer runs)
    template: str = "llama3"  # a templates.SPECS name, or tokenizer (tokenizer_config's Jinja)
    finetuning_type: str = "lora"  # lora | freeze | full
    use_rslora: bool = False  # LoRA scaling alpha / sqrt(r) instead of alpha / r
    use_dora: bool = False  # weight-decomposed LoRA (DoRA)
    freeze_trainable_layers: int = 2  # freeze: train the last N layers (negative: the first -N)
    freeze_trainable_modules: Union[str, list] = "all"  # freeze: "all" or module names inside those layers
    train_on_prompt: bool = False  # also put labels on prompt tokens
    mask_history: bool = False  # train only on the last assistant turn of each conversation
    packing: bool = False  # several samples per row (block-diagonal attention, positions restart)
    pref_loss: str = "sigmoid"  # dpo stage: sigmoid | hinge | ipo (DPO variants) | orpo | simpo
    pref_beta: float = 0.1  # DPO/KTO beta; ORPO's odds-ratio weight; SimPO's reward scale
    pref_ftx: float = 0.0  # weight of the SFT loss on the chosen answers added to the preference loss
    simpo_gamma: float = 0.5  # SimPO target reward margin
    kto_chosen_weight: float = 1.0  # KTO weight of desirable answers
    kto_rejected_weight: float = 1.0  # KTO weight of undesirable answers
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
    # The folder of a finished run this one continues (its final trainer_state.pt): weights, optimizer, scheduler,
    # RNG and step counter carry on, and num_train_epochs / max_steps count from where that run ended.
    continue_from: Optional[str] = None
    early_stopping_patience: int = 0  # stop after N evaluations without improvement (0: off; needs a held-out split)
    early_stopping_min_delta: float = 0.0  # an eval loss improves when it is below the best by more than this
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    fast_path: str = "auto"  # LoRA fast path (fast.py): auto (on CUDA) | on (also on CPU) | off (reference path)
    quantization_bit: str = "none"  # frozen base weights: none | 8 | 4 (LoRA only; quant/)
    quantization_method: str = "auto"  # auto | nf4 (4 bits) | int8 | fp8 (8 bits); auto: quant/run.py
    # MoE models: weight of the router's load-balancing loss added to the training loss (None: not added)
    moe_aux_loss_coef: Optional[float] = None
    enable_thinking: bool = True  # qwen3 / deepseekr1 templates: keep and train <think> blocks (False: drop them)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        values = validate("trainer_config", d)
        for name in _FLOAT_FIELDS:
            values[name] = float(values[name])
        if values.get("moe_aux_loss_coef") is not None:
            values["moe_aux_loss_coef"] = float(values["moe_aux_loss_coef"])
        if isinstance(values["val_size"], float) and values["val_size"].is_integer() and values["val_size"] >= 1:
            values["val_size"] = int(values["val_size"])  # a sample count written as 10.0
        mods = values["freeze_trainable_modules"].strip()
        values["freeze_trainable_modules"] = ["all"] if mods == "all" else [m.strip() for m in mods.split(",")]
        target = values["lora_target"]
        values["lora_target"] = list(LORA_TARGETS) if target == "all" else list(target)
        return cls(**values)

    @classmethod
    def from_file(cls, path) -> "TrainConfig":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config: file {path} not found") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config: invalid JSON ({e})") from None
        return cls.from_dict(d)
