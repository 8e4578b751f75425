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
    assert cfg.lora_rank == 8 and cfg.lora_alpha == 16 and cfg.lora_target == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
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


@pytest.mark.parametrize("patch, message", [
    ({"lora_rank": 0}, "lora_rank: must be >= 1"),
    ({"lora_rank": 2.5}, "lora_rank: must be int"),
    ({"learning_rate": -1}, "learning_rate: must be > 0"),
    ({"learning_rate": "fast"}, "learning_rate: must be"),
    ({"per_device_train_batch_size": True}, "per_device_train_batch_size: must be int"),
    ({"lora_dropout": 1.0}, "lora_dropout: must be in"),
    ({"lr_scheduler_type": "polynomial"}, "lr_scheduler_type:"),
    ({"lora_target": ["q_proj", "qkv"]}, "lora_target: unknown module"),
    ({"template": "vicuna"}, "template: unsupported template 'vicuna'"),
    ({"finetuning_type": "qlora"}, "finetuning_type: unsupported"),
    ({"cutoff_len": 0}, "cutoff_len: must be >= 1"),
    ({"val_size": 1.5}, "val_size: a fraction must be in [0, 1)"),
    ({"val_size": -2}, "val_size: a count must be >= 0"),
    ({"val_size": "10%"}, "val_size: must be a fraction"),
    ({"warmup_ratio": 1.0}, "warmup_ratio: must be in [0, 1)"),
    ({"eval_steps": 0}, "eval_steps: must be >= 1"),
    ({"freeze_trainable_layers": 0}, "freeze_trainable_layers: must not be 0"),
    ({"freeze_trainable_modules": []}, "freeze_trainable_modules: must be 'all'"),
    ({"use_dora": "yes"}, "use_dora: must be true or false"),
    ({"packing": 1}, "packing: must be true or false"),
    ({"gradient_checkpointing": None}, "gradient_checkpointing: must be true or false"),
    ({"resume_from_checkpoint": ""}, "resume_from_checkpoint: must be null"),
    ({"max_steps": 0}, "max_steps: must be >= 1"),
    ({"dataset": []}, "dataset: must be a non-empty list"),
    ({"compute_type": "int8"}, "compute_type: must be one of auto, fp32, bf16, fp16"),
    ({"device": "tpu"}, "device:"),
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


def test_comma_separated_values_are_accepted():
    cfg = TrainConfig.from_dict({**VALID, "dataset": "a, b", "lora_target": "q_proj,v_proj"})
    assert cfg.dataset == ["a", "b"] and cfg.lora_target == ["q_proj", "v_proj"]


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
    assert err.returncode == 2 and err.stdout.strip() == "lora_rank: must be >= 1"
