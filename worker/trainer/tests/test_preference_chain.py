"""The SFT -> preference chain (continue_from an sft run into dpo/kto): the policy starts from the SFT adapter and
the reference is the SFT model (base + that adapter as it ended, frozen), not the base with the adapter off."""

import io
import json
import math

import pytest
import torch

from tuneboard_trainer.config import ConfigError, TrainConfig
from tuneboard_trainer.events import EventSink, parse_event
from tuneboard_trainer.lora import adapters_disabled
from tuneboard_trainer.train import TrainingRun
from test_stages_train import cfg as stage_cfg, fill, run, stage_data, TEMPLATES  # noqa: F401 (fixture)
from test_train import make_cfg, run_events

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, tiny_model_dir):
    """A finished SFT LoRA run on the filled identity data (its folder holds the final trainer_state.pt)."""
    d = tmp_path_factory.mktemp("sft")
    records = fill(json.loads((TEMPLATES / "identity.json").read_text(encoding="utf-8")))[:16]
    (d / "identity.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (d / "dataset_info.json").write_text(json.dumps({"identity": {"file_name": "identity.json"}}))
    run_events(make_cfg(d, tiny_model_dir, d, "sft", max_steps=4, cutoff_len=128, device="cpu"))
    return d / "sft"


def dpo_config(tmp_path, model_dir, data_dir, sft_dir, **kw):
    return stage_cfg(tmp_path, model_dir, data_dir, "dpo", **{"stage": "dpo", "dataset": ["identity_pref"],
                                                             "max_steps": 3, "continue_from": str(sft_dir), **kw})


def first_batch(run_: TrainingRun):
    return run_.pref_step.collate(run_.rows[:4], run_.template.pad)


def sft_model_logps(run_: TrainingRun, sft_dir, ids, labels):
    """Log-probs of base + the SFT adapter, loaded into the same model from the SFT run's saved state."""
    from tuneboard_trainer.preference import sequence_logps

    state = torch.load(sft_dir / "trainer_state.pt", map_location="cpu", weights_only=False)
    named = dict(run_.model.named_parameters())
    keep = {n: named[n].detach().clone() for n in state["trainable"]}
    with torch.no_grad():
        for n, t in state["trainable"].items():
            named[n].copy_(t)
        out = sequence_logps(run_.model, run_.model(ids), labels)[0]
        for n, t in keep.items():
            named[n].copy_(t)
    return out


def test_reference_is_the_sft_model_and_dpo_starts_at_log2(tmp_path, tiny_model_dir, stage_data, sft_run):
    run_ = TrainingRun(TrainConfig.from_dict(dpo_config(tmp_path, tiny_model_dir, stage_data, sft_run)),
                       EventSink(io.StringIO()))
    assert run_.chained and run_.start_step == 0
    run_.model.eval()
    batch = first_batch(run_)
    ids, labels = batch["input_ids"], batch["labels"]
    ref, _ = run_.pref_step._logps(run_.model, run_.pref_step._inputs(batch, CPU), CPU, reference=True)
    expected = sft_model_logps(run_, sft_run, ids, labels)
    torch.testing.assert_close(ref, expected, rtol=0, atol=1e-5)
    with torch.no_grad(), adapters_disabled(run_.model):  # the base model alone: a different model
        from tuneboard_trainer.preference import sequence_logps
        base = sequence_logps(run_.model, run_.model(ids), labels)[0]
    assert (base - ref).abs().max() > 1e-3
    # Policy == reference at step 0: every ratio is 0, so the sigmoid DPO loss per pair is log 2.
    loss, metrics = run_.pref_step(run_.model, batch, torch.device("cpu"))
    assert float(loss.detach()) / run_.pref_step.samples(batch) == pytest.approx(math.log(2), abs=1e-5)
    assert float(metrics["rewards/margins"].abs().max()) < 1e-5
    run_.log_file.close()


def test_reference_stays_the_sft_model_while_the_policy_trains(tmp_path, tiny_model_dir, stage_data, sft_run):
    result, events = run(dpo_config(tmp_path, tiny_model_dir, stage_data, sft_run, learning_rate=5e-2))
    steps = [e for e in events if e.type == "step"]
    assert [s.step for s in steps] == [1, 2, 3]  # the preference run counts its own steps
    assert steps[0].loss == pytest.approx(math.log(2), abs=1e-3)
    # Step events carry TRL's metrics under their names (the event contract's STAGE_METRICS).
    assert set(steps[0].metrics) == {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                                     "logps/chosen", "logps/rejected"}
    assert steps[0].metrics["rewards/margins"] == pytest.approx(0, abs=1e-3)  # policy == reference at step 1
    logs = [e.message for e in events if e.type == "log"]
    assert any("reference: the SFT model" in m for m in logs)
    assert any(m.startswith("starting from the SFT run") for m in logs)
    # After training, the reference pass still gives the SFT model's log-probs.
    cont = TrainingRun(TrainConfig.from_dict(dpo_config(tmp_path, tiny_model_dir, stage_data, sft_run,
                                                        output_dir=str(tmp_path / "again"))),
                       EventSink(io.StringIO()))
    named = dict(cont.model.named_parameters())
    trained = torch.load(tmp_path / "dpo" / "trainer_state.pt", map_location="cpu", weights_only=False)["trainable"]
    with torch.no_grad():
        for n, t in trained.items():
            named[n].copy_(t)
    cont.model.eval()
    batch = first_batch(cont)
    ref, _ = cont.pref_step._logps(cont.model, cont.pref_step._inputs(batch, CPU), CPU, reference=True)
    policy, _ = cont.pref_step._logps(cont.model, cont.pref_step._inputs(batch, CPU), CPU, reference=False)
    expected = sft_model_logps(cont, sft_run, batch["input_ids"], batch["labels"])
    torch.testing.assert_close(ref, expected, rtol=0, atol=1e-5)
    assert (policy - ref).abs().max() > 1e-4  # the policy moved away from it
    torch.testing.assert_close(named[next(iter(trained))].detach(), trained[next(iter(trained))])  # swapped back
    cont.log_file.close()


def test_chain_refuses_a_different_adapter_shape(tmp_path, tiny_model_dir, stage_data, sft_run):
    with pytest.raises(ConfigError, match="continue_from: the SFT run was trained with LoRA rank 4"):
        run(dpo_config(tmp_path, tiny_model_dir, stage_data, sft_run, lora_rank=8))


def test_a_continued_chain_run_keeps_the_sft_reference(tmp_path, tiny_model_dir, stage_data, sft_run):
    run(dpo_config(tmp_path, tiny_model_dir, stage_data, sft_run, max_steps=1))
    again = dict(dpo_config(tmp_path, tiny_model_dir, stage_data, tmp_path / "dpo", max_steps=1),
                 output_dir=str(tmp_path / "dpo2"))
    cont = TrainingRun(TrainConfig.from_dict(again), EventSink(io.StringIO()))
    assert not cont.chained and cont.start_step == 1  # an ordinary continuation of the dpo run
    cont.model.eval()
    batch = first_batch(cont)
    ref, _ = cont.pref_step._logps(cont.model, cont.pref_step._inputs(batch, CPU), CPU, reference=True)
    torch.testing.assert_close(ref, sft_model_logps(cont, sft_run, batch["input_ids"], batch["labels"]), rtol=0, atol=1e-5)
    cont.log_file.close()
