"""(e) Short training runs are reproducible and reduce the loss; CLI error events and exit codes."""

import json
import os
import subprocess
import sys


import pytest
import torch

from conftest import REPO_ROOT, TRAINER_DIR
from tuneboard_trainer.config import ConfigError, TrainConfig
from tuneboard_trainer.data import DataError
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


def test_resume_continues_bit_identically(tmp_path, tiny_model_dir, dataset_dir):
    # 6 samples, batch 2, grad-acc 1: 3 steps per epoch, so the checkpoint at step 2 sits mid-epoch
    # and the resumed run crosses an epoch boundary. Dropout > 0, so the RNG state matters.
    kw = dict(max_steps=4, save_steps=2, lora_dropout=0.1, gradient_checkpointing=False)
    straight, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "a", **kw))
    resumed, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "b", **kw,
                                          resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2")))
    assert resumed["losses"] == straight["losses"]  # steps 1-2 restored, steps 3-4 recomputed: identical
    assert [e.step for e in events if e.type == "step"] == [3, 4]
    assert any(e.type == "log" and "resumed from" in e.message for e in events)
    state = torch.load(tmp_path / "a" / "checkpoint-2" / "trainer_state.pt", weights_only=False)
    assert state["global_step"] == 2 and (state["epoch"], state["step_in_epoch"]) == (0, 2)
    assert {"optimizer", "scheduler", "rng", "trainable"} <= set(state)
    assert (tmp_path / "a" / "checkpoint-2" / "adapter_model.safetensors").exists()


def test_gradient_checkpointing_changes_nothing(tmp_path, tiny_model_dir, dataset_dir):
    kw = dict(max_steps=2, save_steps=0, lora_dropout=0.1)
    on, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "a", gradient_checkpointing=True, **kw))
    off, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "b", gradient_checkpointing=False, **kw))
    assert on["losses"] == off["losses"]


def test_eval_packing_and_outputs(tmp_path, tiny_model_dir, dataset_dir):
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, max_steps=4, save_steps=0, val_size=2, eval_steps=2,
                   packing=True, cutoff_len=64, per_device_train_batch_size=1, warmup_ratio=0.3,
                   weight_decay=0.1)
    result, events = run_events(cfg)
    started = events[0]
    assert started.num_samples == 4 and started.num_eval_samples == 2
    evals = [e for e in events if e.type == "eval"]
    assert [e.step for e in evals] == [2, 4] and all(e.eval_loss > 0 for e in evals)
    assert events[-1].type == "done" and events[-1].eval_loss == evals[-1].eval_loss
    assert any(e.type == "log" and e.message.startswith("packed 4 samples into") for e in events)
    steps = [e for e in events if e.type == "step"]
    assert steps[0].lr == 0.0 and steps[1].lr > 0  # warmup_ratio 0.3 of 4 steps -> 2 warmup steps

    out = tmp_path / "run"
    log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [(d["type"], d["step"]) for d in log] == [("step", 1), ("step", 2), ("eval", 2), ("step", 3),
                                                     ("step", 4), ("eval", 4)]
    res = json.loads((out / "all_results.json").read_text())
    assert {"train_loss", "eval_loss", "tokens_seen", "runtime_s", "num_samples", "truncated", "dropped"} <= set(res)
    assert res["eval_loss"] == evals[-1].eval_loss and res["num_samples"] == 4 and res["tokens_seen"] > 0
    assert (out / "training_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "trainer_state.pt").exists()  # the final save is resumable too


def test_freeze_method_saves_a_full_model(tmp_path, tiny_model_dir, dataset_dir):
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, max_steps=1, save_steps=0, finetuning_type="freeze",
                   freeze_trainable_layers=1, learning_rate=1e-3)
    _, events = run_events(cfg)
    started = events[0]
    assert 0 < started.trainable_params < started.total_params
    assert (tmp_path / "run" / "config.json").exists() and not (tmp_path / "run" / "adapter_config.json").exists()


def test_data_errors_come_before_the_model_loads(tmp_path, tiny_model_dir, dataset_dir, monkeypatch):
    import tuneboard_trainer.train as train_mod

    def no_model(*a, **k):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(train_mod, "load_pretrained", no_model)
    (dataset_dir / "dataset_info.json").write_text(json.dumps(
        {"identity": {"file_name": "identity.json", "columns": {"prompt": "question", "response": "output"}}}))
    with pytest.raises(DataError, match="columns.prompt names column 'question'"):
        run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir))
    with pytest.raises(ConfigError, match="^resume_from_checkpoint: .* has no trainer_state.pt"):
        run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, resume_from_checkpoint=str(tmp_path)))


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


def test_a_non_finite_loss_stops_the_run_at_its_step(tmp_path, tiny_model_dir, dataset_dir, monkeypatch):
    """Losses are read back from the device in batches (not after every step), but a NaN still stops the run
    with the step it happened at, and the steps before it are logged. Step 4 of 6 is made NaN by scaling the
    loss the reference path returns; logging every 5 steps, so the NaN is only read back at step 5."""
    import tuneboard_trainer.train as train_mod

    real, calls = train_mod.lm_loss, []

    def lm_loss(*args, **kwargs):
        loss, n = real(*args, **kwargs)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 4 else loss), n

    monkeypatch.setattr(train_mod, "lm_loss", lm_loss)
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, "nan", logging_steps=5, save_steps=0)
    with pytest.raises(FloatingPointError, match="at step 4"):
        run_events(cfg)
    log = [json.loads(line) for line in (tmp_path / "nan" / "trainer_log.jsonl").read_text().splitlines()]
    assert [d["step"] for d in log] == [1]  # step 1 is always logged; step 5's line never came


def test_the_started_event_reports_the_fast_path_options_the_run_used(tmp_path, tiny_model_dir, dataset_dir):
    """FastPathOptions are built once from the config and reported as resolved: on the CPU "auto" means the
    reference path, "on" the fast path (no compile, no CUDA graphs there)."""
    _, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "auto", max_steps=1, save_steps=0))
    auto = events[0].fast_path_options
    assert auto["mode"] == "auto" and auto["active"] is False and auto["compile"] is False
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, "on", max_steps=1, save_steps=0, fast_path="on",
                   gradient_checkpointing=False)
    _, events = run_events(cfg)
    on = events[0].fast_path_options
    packed = max(2 * TrainConfig.from_dict(cfg).cutoff_len, 2048)  # batch x cutoff, as fast.default_max_tokens
    assert on["mode"] == "on" and on["active"] is True and on["gradient_checkpointing"] is False
    assert on["compile"] is False and on["cuda_graphs"] is False and on["recomputed_blocks"] == 0
    assert on["max_tokens"] == packed and on["augmented_weights"] is True and on["dense_attention"] is True
