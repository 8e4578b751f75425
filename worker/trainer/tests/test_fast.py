"""GPU fast path (fast.py), checked on the CPU: packing, per-sample attention fallback, LoRA fusion, selective
recompute and the train-loop hook compute the reference path's loss and adapter gradients."""

import contextlib

import pytest
import torch

from fast_helpers import SMALL, examples, fast_loss, lora_model, packed_rows_window, padded_window, reference_loss, rel_err
from tuneboard_trainer.config import ConfigError, TrainConfig
from tuneboard_trainer.fast import FastPath, pack_window
from tuneboard_trainer.templates import IGNORE_INDEX

CPU = torch.device("cpu")
NOCAST = contextlib.nullcontext()


def test_pack_window_targets_and_boundaries():
    exs = examples([5, 3, 7], vocab=100)
    window = padded_window(exs)  # rows of 5+3 (padded to 5) and 7
    mbs = pack_window(window, max_tokens=100)
    assert len(mbs) == 1
    mb = mbs[0]
    assert mb["cu_seqlens"].tolist() == [0, 5, 8, 15] and mb["max_len"] == 7
    assert mb["position_ids"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 4, 5, 6]
    want = []
    for e in exs:
        want += e.labels[1:] + [IGNORE_INDEX]
    assert mb["targets"].tolist() == want
    # Same labelled-position count as lm_loss's shift on the padded rows.
    n_ref = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
    assert int((mb["targets"] != IGNORE_INDEX).sum()) == n_ref
    # Splitting only at sample boundaries.
    parts = pack_window(window, max_tokens=8)
    assert [p["cu_seqlens"].tolist() for p in parts] == [[0, 5, 8], [0, 7]]


def test_pack_window_balances_micro_batches():
    # Greedy filling to 16 would give 16 + 4 tokens; balanced: as few micro-batches, evenly filled.
    window = padded_window(examples([4, 4, 4, 4, 4], vocab=100))
    parts = pack_window(window, max_tokens=16)
    assert [int(p["cu_seqlens"][-1]) for p in parts] == [12, 8]
    # A sample longer than max_tokens still gets a micro-batch of its own.
    parts = pack_window(padded_window(examples([3, 20, 3], vocab=100)), max_tokens=10)
    assert [p["cu_seqlens"].tolist() for p in parts] == [[0, 3], [0, 20], [0, 3]]


@pytest.mark.parametrize("ckpt", [0, 2])
def test_fast_matches_reference_loss_and_grads(ckpt):
    model = lora_model(SMALL)
    window = padded_window(examples([37, 12, 64, 5, 23, 50], SMALL["vocab_size"], seed=1))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST, ckpt_layers=ckpt, max_tokens=100)
    assert n == ref_n
    assert abs(l - ref_l) < 1e-5 * abs(ref_l)
    assert set(g) == set(ref_g) and len(g) == 2 * 7 * SMALL["num_hidden_layers"]
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


def test_fast_matches_reference_on_packed_rows():
    model = lora_model(SMALL, seed=3)
    window = packed_rows_window(examples([30, 20, 25, 40, 9, 14, 33], SMALL["vocab_size"], seed=2), cutoff=64)
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST)
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


def test_packed_loss_equals_sum_of_single_sample_losses():
    model = lora_model(SMALL, seed=4)
    exs = examples([17, 40, 8, 29], SMALL["vocab_size"], seed=5)
    fp = FastPath(model, max_tokens=1000)
    with torch.no_grad():
        (mb,) = fp.pack(padded_window(exs))
        packed, _ = fp.loss(mb, CPU)
        singles = [fp.loss(fp.pack(padded_window([e], batch=1))[0], CPU)[0] for e in exs]
    assert abs(float(packed) - float(sum(singles))) < 1e-5 * abs(float(packed))


def test_layers_to_checkpoint_follows_the_budget():
    model = lora_model(SMALL, layers=4)
    fp = FastPath(model, max_tokens=1000)
    per_block = fp.act_bytes_per_token() * 1000
    assert FastPath(model, 1000, memory_budget=10 * per_block).ckpt_layers == 0
    assert FastPath(model, 1000, memory_budget=1).ckpt_layers == 4
    mid = FastPath(model, 1000, memory_budget=int(2.5 * per_block)).ckpt_layers
    assert 0 < mid < 4


def test_supported_refuses_dora_and_plain_models():
    from tuneboard_trainer.lora import apply_lora
    from tuneboard_trainer.model import ModelConfig, Transformer

    assert FastPath.supported(lora_model(SMALL)) == (True, "")
    plain = Transformer(ModelConfig(**SMALL))
    assert not FastPath.supported(plain)[0]
    assert "DoRA" in FastPath.supported(apply_lora(Transformer(ModelConfig(**SMALL)), use_dora=True))[1]


def test_fast_path_config_field():
    base = {"model_name_or_path": "m", "dataset_dir": "d", "dataset": ["x"], "output_dir": "o"}
    assert TrainConfig.from_dict(base).fast_path == "auto"
    assert TrainConfig.from_dict({**base, "fast_path": "off"}).fast_path == "off"
    with pytest.raises(ConfigError, match="^fast_path:"):
        TrainConfig.from_dict({**base, "fast_path": "fast"})


def test_train_loop_with_fast_path_matches_reference(tmp_path, tiny_model_dir, dataset_dir):
    from test_train import make_cfg, run_events

    kw = dict(gradient_accumulation_steps=2, max_steps=3, save_steps=0, lora_dropout=0.0)
    ref, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "ref", fast_path="off", **kw))
    fast, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "fast", fast_path="on", **kw))
    assert any(e.type == "log" and e.message.startswith("fast path:") for e in events)
    assert len(fast["losses"]) == len(ref["losses"]) == 3
    for a, b in zip(fast["losses"], ref["losses"]):
        assert abs(a - b) < 1e-4 * abs(b)
    assert fast["tokens_seen"] == ref["tokens_seen"]


def test_offloaded_checkpoint_matches_reference():
    model = lora_model(SMALL, seed=6)
    window = padded_window(examples([37, 12, 64, 5], SMALL["vocab_size"], seed=7))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST, ckpt_layers=2, offload=True)
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k
