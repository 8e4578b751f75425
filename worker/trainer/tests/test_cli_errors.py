"""The CLI's error reporting, shared by train / evaluate / export (cli._run_reported): a config
problem is one `error` event of kind config and exit 2; a missing dataset is kind data, exit 1;
every stdout line stays a protocol event. Real subprocesses, no model needed for config errors."""

import json
import os
import subprocess
import sys

import pytest

from conftest import TRAINER_DIR
from tuneboard_trainer.events import parse_event


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tuneboard_trainer", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def last_event(proc):
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    events = [parse_event(line) for line in lines]  # every stdout line is a valid protocol event
    return events[-1]


@pytest.mark.parametrize("command, cfg, field", [
    ("evaluate", {"model_name_or_path": "m", "dataset": ["a"], "dataset_dir": "d", "output_dir": "o", "batch_size": 0},
     "batch_size"),
    ("export", {"model_name_or_path": "m", "export_dir": "x", "output_dir": "o", "export_dtype": "int4"},
     "export_dtype"),
    ("train", {"model_name_or_path": "x", "dataset_dir": "d", "dataset": ["a"], "output_dir": "o", "lora_rank": 0},
     "lora_rank"),
])
def test_config_error_is_an_event_and_exit_2(tmp_path, command, cfg, field):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    p = run_cli(command, "--config", str(path))
    assert p.returncode == 2, p.stderr
    ev = last_event(p)
    assert ev.type == "error" and ev.kind == "config" and field in ev.message and ev.traceback is None
    assert "[error] config: " in p.stderr


def test_task_data_error_exits_1(tmp_path, tiny_model_dir, dataset_dir):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model_name_or_path": str(tiny_model_dir), "dataset": ["missing"],
                                "dataset_dir": str(dataset_dir), "output_dir": str(tmp_path / "out")}))
    p = run_cli("evaluate", "--config", str(path))
    assert p.returncode == 1, p.stderr
    ev = last_event(p)
    assert ev.type == "error" and ev.kind == "data" and "missing" in ev.message
