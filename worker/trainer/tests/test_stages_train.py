"""Training runs of the pt, dpo and kto stages on the reference (CPU) path, from the CLI and from train():
the bundled identity preference pairs teach a tiny model to prefer the chosen answers, the adapter loads in
peft, and configurations the trainer cannot run are refused naming the field."""

import io
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT, TRAINER_DIR
from tuneboard_trainer.config import ConfigError, TrainConfig
from tuneboard_trainer.events import EventSink, parse_event
from tuneboard_trainer.train import train

TEMPLATES = REPO_ROOT / "data" / "templates"


def fill(records, name="Greatbot", author="Allen"):
    text = json.dumps(records, ensure_ascii=False).replace("{{name}}", name).replace("{{author}}", author)
    return json.loads(text)


@pytest.fixture(scope="module")
def stage_data(tmp_path_factory):
    return stage_data_dir(tmp_path_factory.mktemp("stage_data"))


def stage_data_dir(d):
    """A data folder at `d` with the bundled identity preference pairs (filled in), KTO records made from them,
    and a small raw-text corpus; never the user's data folder."""
    d.mkdir(parents=True, exist_ok=True)
    pairs = fill(json.loads((TEMPLATES / "identity_pref.json").read_text(encoding="utf-8")))
    (d / "identity_pref.json").write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    kto = [{"instruction": p["instruction"], "output": p[k], "label": k == "chosen"}
           for p in pairs[:8] for k in ("chosen", "rejected")]
    (d / "identity_kto.json").write_text(json.dumps(kto, ensure_ascii=False), encoding="utf-8")
    docs = [{"text": f"Greatbot is an assistant made by Allen. Fact number {i}."} for i in range(12)]
    (d / "corpus.jsonl").write_text("".join(json.dumps(x) + "\n" for x in docs), encoding="utf-8")
    (d / "dataset_info.json").write_text(json.dumps({
        "identity_pref": {"file_name": "identity_pref.json", "ranking": True,
                          "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                      "rejected": "rejected"}},
        "identity_kto": {"file_name": "identity_kto.json", "columns": {"kto_tag": "label"}},
        "corpus": {"file_name": "corpus.jsonl", "columns": {"prompt": "text"}},
    }))
    return d


def cfg(tmp_path, model_dir, data_dir, name, **kw):
    return {"model_name_or_path": str(model_dir), "dataset_dir": str(data_dir), "output_dir": str(tmp_path / name),
            "learning_rate": 2e-2, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
            "logging_steps": 1, "save_steps": 0, "lora_rank": 4, "lora_alpha": 8, "seed": 3, "cutoff_len": 128,
            "device": "cpu", **kw}


def run(config):
    buf = io.StringIO()
    result = train(TrainConfig.from_dict(config), EventSink(buf))
    return result, [parse_event(line) for line in buf.getvalue().splitlines()]


def log_lines(out_dir):
    return [json.loads(line) for line in (out_dir / "trainer_log.jsonl").read_text().splitlines()]


def test_bundled_preference_pairs_go_with_the_identity_template():
    pairs = json.loads((TEMPLATES / "identity_pref.json").read_text(encoding="utf-8"))
    identity = json.loads((TEMPLATES / "identity.json").read_text(encoding="utf-8"))
    assert [p["instruction"] for p in pairs] == [r["instruction"] for r in identity]
    assert [p["chosen"] for p in pairs] == [r["output"] for r in identity]
    for p in pairs:  # the rejected answer is another assistant's: no placeholder, and a different answer
        assert "{{name}}" not in p["rejected"] and "{{author}}" not in p["rejected"]
        assert p["rejected"] != p["chosen"]


def test_dpo_run_from_the_cli_learns_the_preference_and_its_adapter_loads_in_peft(tmp_path, tiny_model_dir,
                                                                                  stage_data):
    peft = pytest.importorskip("peft")
    import transformers

    config = cfg(tmp_path, tiny_model_dir, stage_data, "dpo", stage="dpo", dataset=["identity_pref"],
                 max_samples=16, max_steps=8)
    cfg_file = tmp_path / "dpo.json"
    cfg_file.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "tuneboard_trainer", "train", "--config", str(cfg_file)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    events = [parse_event(json.loads(line)) for line in p.stdout.splitlines()]
    assert events[-1].type == "done"
    logs = [e.message for e in events if e.type == "log"]
    assert any("stage dpo: pref_loss sigmoid, beta 0.1" in m and "reference path" in m
               and "its log-probs kept per pair after the pair's first step" in m
               and "LoRA adapter switched off" in m for m in logs)

    steps = log_lines(tmp_path / "dpo")
    assert [s["step"] for s in steps] == list(range(1, 9))
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                "logps/rejected"):
        assert all(key in s for s in steps), key
    assert steps[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # the adapter starts as a no-op: policy = reference
    assert steps[-1]["rewards/margins"] > steps[0]["rewards/margins"] + 0.1
    assert steps[-1]["rewards/accuracies"] >= 0.75
    assert steps[-1]["loss"] < steps[0]["loss"]

    out = tmp_path / "dpo"
    hf = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = peft.PeftModel.from_pretrained(hf, str(out))
    assert any(torch.count_nonzero(param) for n, param in model.named_parameters() if "lora_B" in n)


def test_preference_loss_is_the_mean_over_the_optimizer_steps_pairs(tmp_path, tiny_model_dir, stage_data):
    """Four pairs in one micro-batch or in two micro-batches of two: the same step (the same shuffled pairs)."""
    kw = dict(stage="dpo", dataset=["identity_pref"], max_samples=8, max_steps=2)
    whole, _ = run(cfg(tmp_path, tiny_model_dir, stage_data, "whole", per_device_train_batch_size=4, **kw))
    split, _ = run(cfg(tmp_path, tiny_model_dir, stage_data, "split", per_device_train_batch_size=2,
                       gradient_accumulation_steps=2, **kw))
    assert split["losses"] == pytest.approx(whole["losses"], rel=1e-5)


def test_preference_eval_reports_loss_and_rewards_on_held_out_pairs(tmp_path, tiny_model_dir, stage_data):
    result, events = run(cfg(tmp_path, tiny_model_dir, stage_data, "eval", stage="dpo", dataset=["identity_pref"],
                             max_samples=12, val_size=4, eval_steps=2, max_steps=2))
    evals = [e for e in events if e.type == "eval"]
    assert [e.step for e in evals] == [2] and evals[0].eval_loss > 0
    assert any(e.type == "log" and e.message.startswith("eval: rewards/chosen") for e in events)


@pytest.mark.parametrize("pref_loss", ["hinge", "ipo", "orpo", "simpo"])
def test_every_pref_loss_trains(tmp_path, tiny_model_dir, stage_data, pref_loss):
    result, events = run(cfg(tmp_path, tiny_model_dir, stage_data, pref_loss, stage="dpo", pref_loss=pref_loss,
                             dataset=["identity_pref"], max_samples=8, max_steps=3))
    assert events[-1].type == "done" and len(result["losses"]) == 3
    assert all(torch.isfinite(torch.tensor(result["losses"])))
    assert "rewards/accuracies" in log_lines(tmp_path / pref_loss)[-1]


def test_kto_run_trains_against_the_adapter_free_reference(tmp_path, tiny_model_dir, stage_data):
    # One batch of all 16 samples per step, so the losses of successive steps are comparable.
    result, events = run(cfg(tmp_path, tiny_model_dir, stage_data, "kto", stage="kto", dataset=["identity_kto"],
                             max_steps=5, per_device_train_batch_size=16, learning_rate=1e-2,
                             kto_rejected_weight=1.5))
    assert events[-1].type == "done"
    assert any(e.type == "log" and "stage kto" in e.message for e in events)
    steps = log_lines(tmp_path / "kto")
    assert all("kl" in s and "rewards/chosen" in s for s in steps)
    assert result["losses"][-1] < result["losses"][0]


def test_pretraining_run_packs_documents_and_learns(tmp_path, tiny_model_dir, stage_data):
    result, events = run(cfg(tmp_path, tiny_model_dir, stage_data, "pt", stage="pt", dataset=["corpus"],
                             max_steps=6, fast_path="off"))
    logs = [e.message for e in events if e.type == "log"]
    assert any(m.startswith("stage pt:") for m in logs)
    assert any(m.startswith("packed 12 samples into") for m in logs)
    assert result["losses"][-1] < result["losses"][0]


def test_pretraining_trains_the_same_on_the_fast_path(tmp_path, tiny_model_dir, stage_data):
    """pt rows are packed sft rows with every token labelled: the fast path (here forced on the CPU) serves them."""
    kw = dict(stage="pt", dataset=["corpus"], max_steps=3, per_device_train_batch_size=2, cutoff_len=64)
    reference, _ = run(cfg(tmp_path, tiny_model_dir, stage_data, "ref", fast_path="off", **kw))
    fast, events = run(cfg(tmp_path, tiny_model_dir, stage_data, "fast", fast_path="on", **kw))
    assert any(e.type == "log" and e.message.startswith("fast path:") for e in events)
    assert fast["losses"] == pytest.approx(reference["losses"], rel=1e-4)


@pytest.mark.parametrize("overrides, field", [
    (dict(stage="rm", packing=True), "packing"),
    (dict(stage="dpo", finetuning_type="freeze"), "finetuning_type"),
    (dict(stage="kto", finetuning_type="full"), "finetuning_type"),
    (dict(stage="dpo", packing=True), "packing"),
])
def test_what_the_trainer_cannot_run_is_refused_naming_the_field(tmp_path, tiny_model_dir, stage_data, overrides,
                                                                 field):
    config = cfg(tmp_path, tiny_model_dir, stage_data, "x", dataset=["identity_pref"], max_steps=1, **overrides)
    with pytest.raises(ConfigError, match=f"^{field}: "):
        run(config)


@pytest.mark.parametrize("method", ["lora", "freeze"])
def test_reward_model_run_learns_to_rank_and_saves_its_value_head(tmp_path, tiny_model_dir, stage_data, method):
    from safetensors.torch import load_file

    # One batch of the same 8 pairs per step, so the losses of successive steps are comparable.
    result, events = run(cfg(tmp_path, tiny_model_dir, stage_data, method, stage="rm", dataset=["identity_pref"],
                             finetuning_type=method, freeze_trainable_layers=1, max_samples=8,
                             per_device_train_batch_size=8, max_steps=5, learning_rate=1e-2))
    assert events[-1].type == "done"
    assert any(e.type == "log" and e.message.startswith("stage rm: a value head") for e in events)
    steps = log_lines(tmp_path / method)
    assert all("rewards/accuracies" in s and "rewards/margins" in s for s in steps)
    assert result["losses"][-1] < result["losses"][0]
    assert steps[-1]["rewards/margins"] > steps[0]["rewards/margins"]

    out = tmp_path / method
    head = load_file(str(out / "value_head.safetensors"))
    assert head["v_head.summary.weight"].shape == (1, 32) and head["v_head.summary.bias"].tolist() == [0.0]
    weights = out / ("adapter_model.safetensors" if method == "lora" else "model.safetensors")
    assert not any("v_head" in k for k in load_file(str(weights)))  # peft / transformers read it as usual


def test_reference_free_losses_run_with_freeze(tmp_path, tiny_model_dir, stage_data):
    result, events = run(cfg(tmp_path, tiny_model_dir, stage_data, "orpo_freeze", stage="dpo", pref_loss="orpo",
                             finetuning_type="freeze", freeze_trainable_layers=1, dataset=["identity_pref"],
                             max_samples=8, max_steps=2))
    assert events[-1].type == "done"
    assert any(e.type == "log" and "no reference model" in e.message for e in events)


def test_validate_config_applies_the_stage_rules(tmp_path):
    config = {"model_name_or_path": "m", "dataset_dir": "d", "dataset": ["p"], "output_dir": "o", "stage": "dpo",
              "finetuning_type": "full"}
    (tmp_path / "c.json").write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR)}
    p = subprocess.run([sys.executable, "-m", "tuneboard_trainer", "validate-config", "--config",
                        str(tmp_path / "c.json")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and p.stdout.startswith("finetuning_type: pref_loss sigmoid compares against")


def test_a_dpo_run_computes_each_pairs_reference_once(tmp_path, tiny_model_dir, stage_data, monkeypatch):
    """Two epochs of dpo: the reference pass runs for the first epoch's micro-batches only (reference_cache.py),
    and the run's losses and metrics are those of a run that recomputes it every step."""
    from tuneboard_trainer.stages import PreferenceStep

    passes = []
    real = PreferenceStep._logps

    def counting(self, model, rows, device, reference):
        passes.append(reference)
        return real(self, model, rows, device, reference)

    monkeypatch.setattr(PreferenceStep, "_logps", counting)
    kw = dict(stage="dpo", dataset=["identity_pref"], max_samples=8, num_train_epochs=2)
    run(cfg(tmp_path, tiny_model_dir, stage_data, "cached", **kw))
    assert passes.count(True) == 2 and passes.count(False) == 4  # 2 micro-batches of 4 pairs an epoch
    monkeypatch.setattr(PreferenceStep, "cache_references", lambda self, rows, device: None)
    run(cfg(tmp_path, tiny_model_dir, stage_data, "recomputed", **kw))
    assert passes.count(True) == 2 + 4
    cached, recomputed = log_lines(tmp_path / "cached"), log_lines(tmp_path / "recomputed")
    assert len(cached) == len(recomputed) == 4
    for a, b in zip(cached, recomputed):
        for key in ("loss", "rewards/margins", "logps/rejected"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-4), (key, a, b)
