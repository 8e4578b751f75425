"""Continuing a finished run (continue_from) and early stopping on the eval loss."""

import json

import pytest
import torch
from safetensors.torch import load_file

import tuneboard_trainer.train as train_module

from tuneboard_trainer.config import ConfigError
from tuneboard_trainer.early_stopping import early_stop, saved_message, stop_message
from test_train import make_cfg, run_events

# 6 samples, batch 2, grad-acc 1: 3 optimizer steps per epoch. Dropout > 0, so the RNG state matters too.
KW = dict(max_steps=None, save_steps=0, lora_dropout=0.1, gradient_checkpointing=False)


def test_continued_run_equals_one_longer_run(tmp_path, tiny_model_dir, dataset_dir):
    # A constant schedule: the earlier run's 2 epochs are then the first 2 of a straight 3-epoch run, and the
    # continued epoch must reproduce the straight run's third epoch exactly (same weights, optimizer, RNG, order).
    kw = dict(KW, lr_scheduler_type="constant")
    straight, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "straight", num_train_epochs=3, **kw))
    first, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "first", num_train_epochs=2, **kw))
    cont, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "cont", num_train_epochs=1, **kw,
                                       continue_from=str(tmp_path / "first")))
    assert first["losses"] == straight["losses"][:6]
    steps = [e for e in events if e.type == "step"]
    assert [s.step for s in steps] == [7, 8, 9]  # the step counter carries on
    assert events[0].total_steps == 9
    assert cont["losses"] == straight["losses"]  # the first continued step's loss included, bit for bit
    assert any(e.type == "log" and e.message.startswith("continuing ") for e in events)
    log = [json.loads(line) for line in (tmp_path / "cont" / "trainer_log.jsonl").read_text().splitlines()]
    assert [d["step"] for d in log] == [7, 8, 9]


def test_continued_cosine_run_follows_the_longer_schedule(tmp_path, tiny_model_dir, dataset_dir):
    # The earlier run's cosine ended at lr 0; the continued steps take the lr of a 3-epoch schedule.
    kw = dict(KW, lr_scheduler_type="cosine")
    straight, s_events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "s", num_train_epochs=3, **kw))
    run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "first", num_train_epochs=2, **kw))
    _, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "cont", num_train_epochs=1, **kw,
                                    continue_from=str(tmp_path / "first")))
    lrs = [e.lr for e in events if e.type == "step"]
    assert lrs == [e.lr for e in s_events if e.type == "step"][6:]
    assert lrs[0] > 0


@pytest.mark.parametrize("change, words", [
    ({"lora_rank": 8}, "LoRA rank 4, this run has 8"),
    ({"finetuning_type": "freeze", "freeze_trainable_layers": 1}, "method 'lora', this run has 'freeze'"),
    ({"lora_target": ["q_proj"]}, "LoRA target modules"),
])
def test_continue_refuses_a_different_model_or_adapter(tmp_path, tiny_model_dir, dataset_dir, change, words):
    run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "first", max_steps=1, save_steps=0))
    with pytest.raises(ConfigError, match=f"^continue_from: the earlier run was trained with {words}"):
        run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "cont", max_steps=1, save_steps=0,
                            continue_from=str(tmp_path / "first"), **change))


def test_continue_refuses_a_different_base_model(tmp_path, tiny_model_dir, dataset_dir, tokenizer_dir):
    from tuneboard_trainer.demo_model import make_demo_model
    from conftest import TINY_SHAPE

    other = make_demo_model(tmp_path / "other", tokenizer_dir, shape=TINY_SHAPE)
    run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "first", max_steps=1, save_steps=0))
    with pytest.raises(ConfigError, match="^continue_from: the earlier run was trained with base model"):
        run_events(make_cfg(tmp_path, other, dataset_dir, "cont", max_steps=1, save_steps=0,
                            continue_from=str(tmp_path / "first")))


def test_continue_needs_the_final_state(tmp_path, tiny_model_dir, dataset_dir):
    with pytest.raises(ConfigError, match="^continue_from: .* has no trainer_state.pt: the earlier run did not save"):
        run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, continue_from=str(tmp_path)))


def test_early_stop_rule():
    evals = [(2, 2.0), (4, 1.5), (6, 1.495), (8, 1.6)]
    assert early_stop(evals[:3], 2, 0.01) is None  # one evaluation without improvement so far
    stop = early_stop(evals, 2, 0.01)
    assert stop == {"patience": 2, "min_delta": 0.01, "best_eval_loss": 1.5, "best_step": 4}
    assert early_stop(evals, 3, 0.01) is None
    assert early_stop(evals, 2, 0.0) is None  # 1.495 improves on 1.5 when any drop counts
    assert early_stop(evals, 0, 0.01) is None  # patience 0: off
    assert stop_message(stop) == ("stopped early: eval loss did not improve by 0.01 for 2 evaluations "
                              "(best 1.5000 at step 4)")
    assert saved_message({**stop, "saved_step": 4}, 8, lora=True) == (
        "saved the weights of step 4, the best evaluation, not those of the last step 8")
    assert saved_message({**stop, "saved_step": 8}, 8, lora=True) == (
        "saved the weights of the last step 8: the best evaluation (step 4) came before the run resumed, and its "
        "weights were not kept")


def test_early_stopping_ends_the_run_at_the_right_evaluation(tmp_path, tiny_model_dir, dataset_dir):
    # lr 0: the eval loss never moves, so no evaluation after the first improves, and with patience 2 the run stops
    # at the third evaluation (step 3 of 10), saves its state and reports the reason.
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, max_steps=10, save_steps=0, val_size=2, eval_steps=1,
                   learning_rate=1e-12, lr_scheduler_type="constant", early_stopping_patience=2,
                   early_stopping_min_delta=0.01)
    result, events = run_events(cfg)
    evals = [e for e in events if e.type == "eval"]
    assert [e.step for e in evals] == [1, 2, 3]
    done = events[-1]
    assert done.type == "done" and done.step == 3
    assert done.stopped_early == {"patience": 2, "min_delta": 0.01, "best_eval_loss": round(evals[0].eval_loss, 4),
                                  "best_step": 1, "saved_step": 1}
    assert any(e.type == "log" and e.message.startswith("stopped early: eval loss did not improve by 0.01 for 2")
               for e in events)
    out = tmp_path / "run"
    assert (out / "trainer_state.pt").exists() and (out / "adapter_model.safetensors").exists()
    assert json.loads((out / "all_results.json").read_text())["stopped_early"]["best_step"] == 1
    assert done.stopped_early["saved_step"] == 1
    assert any(e.type == "log" and e.message == "saved the weights of step 1, the best evaluation, not those of the "
               "last step 3" for e in events)


def _trainable(path):
    return {n: t for n, t in torch.load(path / "trainer_state.pt", weights_only=False)["trainable"].items()}


@pytest.mark.parametrize("finetuning", [{}, {"finetuning_type": "freeze", "freeze_trainable_layers": 1}])
def test_early_stopping_saves_the_best_evaluation(tmp_path, tiny_model_dir, dataset_dir, monkeypatch, finetuning):
    # Scripted eval losses (the weights still train for real): step 2 is the best, steps 3 and 4 do not improve on
    # it, so patience 2 stops the run at step 4. A checkpoint after every step holds each step's weights.
    scripted = iter([2.0, 1.0, 1.5, 1.6])
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: next(scripted))
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, max_steps=10, save_steps=1, val_size=2, eval_steps=1,
                   early_stopping_patience=2, **finetuning)
    _, events = run_events(cfg)
    done = events[-1]
    assert done.type == "done" and done.step == 4
    out = tmp_path / "run"
    saved, best, last = _trainable(out), _trainable(out / "checkpoint-2"), _trainable(out / "checkpoint-4")
    assert saved.keys() == best.keys() and saved
    if not finetuning:  # LoRA: the adapter of step 2, in the adapter file and the final state alike
        assert done.stopped_early["saved_step"] == 2
        assert all(torch.equal(saved[n], best[n]) for n in saved)
        assert not all(torch.equal(saved[n], last[n]) for n in saved)
        adapter = load_file(out / "adapter_model.safetensors")
        assert adapter.keys() == load_file(out / "checkpoint-2" / "adapter_model.safetensors").keys()
        assert all(torch.equal(adapter[k], load_file(out / "checkpoint-2" / "adapter_model.safetensors")[k])
                   for k in adapter)
        words = "saved the weights of step 2, the best evaluation, not those of the last step 4"
    else:  # freeze/full: the last step's weights, said so
        assert done.stopped_early["saved_step"] == 4
        assert all(torch.equal(saved[n], last[n]) for n in saved)
        words = ("saved the weights of the last step 4: only LoRA adapters are kept in memory at their best "
                 "evaluation (step 2)")
    assert any(e.type == "log" and e.message == words for e in events)
    assert json.loads((out / "all_results.json").read_text())["stopped_early"]["saved_step"] == done.stopped_early[
        "saved_step"]


def test_early_stopping_keeps_going_while_eval_loss_improves(tmp_path, tiny_model_dir, dataset_dir):
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, max_steps=4, save_steps=0, val_size=2, eval_steps=1,
                   early_stopping_patience=3)
    _, events = run_events(cfg)
    assert events[-1].type == "done" and events[-1].step == 4 and events[-1].stopped_early is None


def test_early_stopping_needs_held_out_samples(tmp_path, tiny_model_dir, dataset_dir):
    with pytest.raises(ConfigError, match="^early_stopping_patience: early stopping needs a validation split"):
        run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, early_stopping_patience=2))
