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


@pytest.mark.parametrize("patch, message", [
    ({"lora_rank": 0}, "lora_rank: must be >= 1"),
    ({"lora_rank": 2.5}, "lora_rank: must be int"),
    ({"learning_rate": -1}, "learning_rate: must be > 0"),
    ({"learning_rate": "fast"}, "learning_rate: must be"),
    ({"per_device_train_batch_size": True}, "per_device_train_batch_size: must be int"),
    ({"lora_dropout": 1.0}, "lora_dropout: must be in"),
    ({"lr_scheduler_type": "polynomial"}, "lr_scheduler_type:"),
    ({"lora_target": ["q_proj", "qkv"]}, "lora_target: unknown module"),
    ({"template": "qwen"}, "template: unsupported"),
    ({"finetuning_type": "full"}, "finetuning_type:"),
    ({"max_steps": 0}, "max_steps: must be >= 1"),
    ({"dataset": []}, "dataset: must be a non-empty list"),
    ({"compute_type": "fp16"}, "compute_type:"),
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
