"""(e) Short training runs are reproducible and reduce the loss; CLI error events and exit codes."""

import json
import os
import subprocess
import sys


from conftest import REPO_ROOT, TRAINER_DIR
from tuneboard_trainer.config import TrainConfig
from tuneboard_trainer.events import EventSink, parse_event
from tuneboard_trainer.train import lr_lambda, train


def make_cfg(tmp_path, model_dir, dataset_dir, name="run", **kw):
    return {
        "model_name_or_path": str(model_dir), "dataset_dir": str(dataset_dir), "dataset": ["identity"],
        "output_dir": str(tmp_path / name), "learning_rate": 3e-2, "max_steps": 6,
        "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "logging_steps": 1,
        "save_steps": 3, "lora_rank": 4, "lora_alpha": 8, "seed": 7, **kw,
    }


def run_events(cfg_dict):
    import io

    buf = io.StringIO()
    result = train(TrainConfig.from_dict(cfg_dict), EventSink(buf))
    return result, [parse_event(line) for line in buf.getvalue().splitlines()]


def test_training_is_reproducible_and_learns(tmp_path, tiny_model_dir, dataset_dir):
    r1, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "a"))
    r2, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "b"))
    assert r1["losses"] == r2["losses"]  # bit-identical with the same config and seed
    assert len(r1["losses"]) == 6
    assert sum(r1["losses"][-2:]) / 2 < r1["losses"][0] - 0.5

    types = [e.type for e in events]
    assert types[0] == "started" and types[1] == "log" and types[-1] == "done"  # same order as the fixture
    assert "loaded 6 samples from identity (0 truncated, 0 dropped)" == events[1].message
    steps = [e for e in events if e.type == "step"]
    assert [s.step for s in steps] == [1, 2, 3, 4, 5, 6]
    assert all(s.tokens > 0 for s in steps) and steps[-1].tokens == events[-1].tokens_seen
    assert [e.step for e in events if e.type == "checkpoint"] == [3]

    out = tmp_path / "a"
    assert (out / "adapter_model.safetensors").exists() and (out / "adapter_config.json").exists()
    assert (out / "checkpoint-3" / "adapter_model.safetensors").exists()
    log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [d["step"] for d in log] == [1, 2, 3, 4, 5, 6]


def test_different_seed_gives_different_run(tmp_path, tiny_model_dir, dataset_dir):
    r1, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "a", max_steps=2))
    r2, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "b", max_steps=2, seed=8))
    assert r1["losses"] != r2["losses"]


def test_epochs_define_total_steps(tmp_path, tiny_model_dir, dataset_dir):
    # 6 records / batch 2 = 3 micro-batches; grad-acc 2 -> 2 steps per epoch (last one partial).
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, max_steps=None, num_train_epochs=1.0, save_steps=0,
                   gradient_accumulation_steps=2)
    _, events = run_events(cfg)
    started = next(e for e in events if e.type == "started")
    assert started.total_steps == 2 and started.num_samples == 6 and started.num_epochs == 1.0


def test_lr_schedules():
    cos = lr_lambda("cosine", warmup=2, total=10)
    assert cos(0) == 0 and cos(1) == 0.5 and cos(2) == 1.0 and abs(cos(6) - 0.5) < 1e-9
    assert lr_lambda("linear", 0, 10)(5) == 0.5 and lr_lambda("constant", 0, 10)(9) == 1.0


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR)}
    return subprocess.run([sys.executable, "-m", "tuneboard_trainer", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def last_event(proc):
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    for line in lines:
        parse_event(line)  # every stdout line is a valid protocol event
    return json.loads(lines[-1])


def test_cli_config_error_exits_2(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"model_name_or_path": "x", "dataset_dir": "d", "dataset": ["a"],
                               "output_dir": "o", "lora_rank": 0}))
    p = run_cli("train", "--config", str(cfg))
    assert p.returncode == 2
    ev = last_event(p)
    assert ev["type"] == "error" and ev["kind"] == "config" and ev["message"].startswith("lora_rank:")


def test_cli_data_error_exits_1(tmp_path, tiny_model_dir, dataset_dir):
    (dataset_dir / "identity.json").write_text(json.dumps([{"instruction": "q", "output": "a"}, {"output": "x"}]))
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(make_cfg(tmp_path, tiny_model_dir, dataset_dir)))
    p = run_cli("train", "--config", str(cfg))
    assert p.returncode == 1
    ev = last_event(p)
    assert ev["type"] == "error" and ev["kind"] == "data" and "record 1" in ev["message"]


def test_cli_train_end_to_end(tmp_path, tiny_model_dir, dataset_dir):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(make_cfg(tmp_path, tiny_model_dir, dataset_dir, max_steps=2, save_steps=0)))
    p = run_cli("train", "--config", str(cfg))
    assert p.returncode == 0, p.stderr
    ev = last_event(p)
    assert ev["type"] == "done" and ev["step"] == 2
    assert "step 2/2" in p.stderr  # human-readable progress goes to stderr
