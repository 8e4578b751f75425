"""(f) Config validation names the offending field; validate-config CLI exit codes."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, TRAINER_DIR
from tuneboard_trainer.config import ConfigError, TrainConfig

VALID = {"model_name_or_path": "/models/x", "dataset_dir": "data", "dataset": ["identity"], "output_dir": "out"}


def test_defaults_match_llama_factory_names():
    cfg = TrainConfig.from_dict(VALID)
    assert cfg.learning_rate == 5e-5 and cfg.num_train_epochs == 3.0 and cfg.max_steps is None
    assert cfg.per_device_train_batch_size == 2 and cfg.gradient_accumulation_steps == 8
    assert cfg.lora_rank == 8 and cfg.lora_alpha == 16 and cfg.lora_target == [  # "all": each family's own
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "qkv_proj", "gate_up_proj"]
    assert cfg.template == "llama3" and cfg.compute_type == "auto" and cfg.seed == 42
    assert cfg.finetuning_type == "lora" and not cfg.use_rslora and not cfg.use_dora
    assert cfg.freeze_trainable_layers == 2 and cfg.freeze_trainable_modules == ["all"]
    assert not cfg.train_on_prompt and not cfg.mask_history and not cfg.packing
    assert cfg.val_size == 0.0 and cfg.eval_steps == 100 and cfg.warmup_ratio == 0.0 and cfg.weight_decay == 0.0
    assert cfg.gradient_checkpointing is True and cfg.resume_from_checkpoint is None


def test_new_fields_accept_llama_factory_values():
    cfg = TrainConfig.from_dict({**VALID, "finetuning_type": "freeze", "freeze_trainable_modules": "mlp,self_attn",
                                 "freeze_trainable_layers": -1, "val_size": 10, "template": "tokenizer",
                                 "compute_type": "fp16", "packing": True, "resume_from_checkpoint": "out/checkpoint-5"})
    assert cfg.freeze_trainable_modules == ["mlp", "self_attn"] and cfg.val_size == 10
    for t in ("llama3", "qwen", "mistral", "llama2", "default", "tokenizer"):
        assert TrainConfig.from_dict({**VALID, "template": t}).template == t


# The messages are the Train form's (lib/schemas/run-config.ts), carried by the generated schema.
@pytest.mark.parametrize("patch, message", [
    ({"lora_rank": 0}, "lora_rank: LoRA rank must be ≥ 1"),
    ({"lora_rank": 2.5}, "lora_rank: LoRA rank must be a whole number"),
    ({"learning_rate": -1}, "learning_rate: learning rate must be > 0"),
    ({"learning_rate": "fast"}, "learning_rate: learning rate must be a number"),
    ({"per_device_train_batch_size": True}, "per_device_train_batch_size: batch size must be a number"),
    ({"lora_dropout": 1.0}, "lora_dropout: LoRA dropout must be in [0, 1)"),
    ({"lr_scheduler_type": "polynomial"}, "lr_scheduler_type: must be one of cosine, linear, constant"),
    ({"lora_target": ["q_proj", "qkv"]}, "lora_target: must be one of q_proj"),
    ({"template": "vicuna"}, "template: unknown template"),
    ({"finetuning_type": "qlora"}, "finetuning_type: method must be lora, freeze or full"),
    ({"cutoff_len": 3}, "cutoff_len: cutoff length must be ≥ 4"),
    ({"val_size": 1.5}, "val_size: validation size is a fraction below 1 or a whole number of samples"),
    ({"val_size": -2}, "val_size: validation size must be ≥ 0"),
    ({"val_size": "10%"}, "val_size: validation size must be a number"),
    ({"warmup_ratio": 1.0}, "warmup_ratio: warmup ratio must be below 1"),
    ({"eval_steps": 0}, "eval_steps: eval steps must be ≥ 1"),
    ({"freeze_trainable_layers": 0}, "freeze_trainable_layers: trainable layers must not be 0"),
    ({"freeze_trainable_modules": []}, "freeze_trainable_modules: must be text"),
    ({"freeze_trainable_modules": "mlp;attn"}, "freeze_trainable_modules: trainable modules: all, or module names"),
    ({"use_dora": "yes"}, "use_dora: must be true or false"),
    ({"packing": 1}, "packing: must be true or false"),
    ({"gradient_checkpointing": None}, "gradient_checkpointing: must be true or false"),
    ({"resume_from_checkpoint": ""}, "resume_from_checkpoint: name a checkpoint folder, or leave it out"),
    ({"max_steps": 0}, "max_steps: max steps must be ≥ 1"),
    ({"dataset": []}, "dataset: choose at least one dataset"),
    ({"dataset": "a, b"}, "dataset: must be a list"),
    ({"compute_type": "int8"}, "compute_type: must be one of auto, bf16, fp16, fp32"),
    ({"device": "tpu"}, "device: device must be auto, cpu, cuda or cuda:N"),
    ({"learning_rat": 1e-4}, "learning_rat: unknown field"),
])
def test_bad_values_name_the_field(patch, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({**VALID, **patch})
    assert str(e.value).startswith(message.split(":")[0] + ":")
    assert message in str(e.value)


def test_missing_required_field():
    d = dict(VALID)
    del d["output_dir"]
    with pytest.raises(ConfigError, match="^output_dir: required"):
        TrainConfig.from_dict(d)


def test_rules_the_trainer_supports_are_reachable():
    """max_grad_norm 0 turns clipping off, a negative freeze depth trains the first layers, any lr > 0."""
    cfg = TrainConfig.from_dict({**VALID, "max_grad_norm": 0, "freeze_trainable_layers": -3, "learning_rate": 2,
                                 "cutoff_len": 4, "lora_rank": 4096})
    assert cfg.max_grad_norm == 0.0 and cfg.freeze_trainable_layers == -3 and cfg.learning_rate == 2.0
    assert cfg.cutoff_len == 4 and cfg.lora_rank == 4096


def test_null_means_not_set():
    cfg = TrainConfig.from_dict({**VALID, "max_steps": None, "resume_from_checkpoint": None})
    assert cfg.max_steps is None and cfg.resume_from_checkpoint is None


def test_dataclass_defaults_are_the_schemas():
    """The generated schema holds the defaults (DEFAULT_RUN_CONFIG); the dataclass must not drift from it."""
    from dataclasses import MISSING, fields

    from tuneboard_trainer.validation import load_schema

    props = load_schema("trainer_config")["properties"]
    assert {f.name for f in fields(TrainConfig)} == set(props)
    for f in fields(TrainConfig):
        if f.default is not MISSING and "default" in props[f.name]:
            assert f.default == props[f.name]["default"], f.name


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR)}
    return subprocess.run([sys.executable, "-m", "tuneboard_trainer", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_validate_config_cli(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(VALID))
    bad.write_text(json.dumps({**VALID, "lora_rank": 0}))
    ok = run_cli("validate-config", "--config", str(good))
    assert ok.returncode == 0 and ok.stdout.strip() == "ok"
    err = run_cli("validate-config", "--config", str(bad))
    assert err.returncode == 2 and err.stdout.strip() == "lora_rank: LoRA rank must be ≥ 1"
