"""bench/family_bench.py's CPU smoke run: both sides train the tiny Gemma 2 shape on the same weights and data
(equal first-step losses: transformers + peft and our fast path compute the same thing), and the record is
written in docs/benchmarks.json's layout."""

import json

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

from bench import family_bench  # noqa: E402


def test_family_bench_quick_cpu(tmp_path):
    rec_path, out_path = tmp_path / "records.json", tmp_path / "out.json"
    rc = family_bench.main(["--family", "gemma2-9b", "--quick", "--device", "cpu", "--steps", "1", "--warmup", "1",
                            "--baseline-best-of", "1", "--no-gpu-busy", "--variants", "ck0,ck1m1",
                            "--records-out", str(rec_path), "--json-out", str(out_path)])
    assert rc == 0
    out = json.loads(out_path.read_text())
    runs = {(r["side"], r.get("variant")): r for r in out["runs"]}
    base = runs[("baseline", None)]
    assert out["sides"]["baseline"]["attn_implementation"] == "eager"
    for variant in ("ck0", "ck1m1"):
        assert runs[("ours", variant)]["fast_path"] == "GemmaFastPath"
    # The first variant starts from the untrained weights, as the baseline does (later ones continue training).
    assert abs(runs[("ours", "ck0")]["first_loss"] - base["first_loss"]) < 1e-4 * base["first_loss"]
    (rec,) = json.loads(rec_path.read_text())
    assert rec["name"] == "train.gemma2_9b.fixed_2x64" and rec["unit"] == "tokens/s"
    assert rec["ours"] and rec["baseline"] and rec["ratio"] == pytest.approx(rec["ours"] / rec["baseline"], rel=1e-2)


def test_gemma2_9b_shape_counts():
    cfg = family_bench.GEMMA2_9B
    # 9.24B parameters in google/gemma-2-9b (embedding tied); matmul parameters exclude the norms and lookup.
    assert 8.3e9 < family_bench.matmul_params(cfg) - cfg["hidden_size"] * cfg["vocab_size"] < 8.4e9


def test_auto_variant_plans_less_recompute_for_more_memory(monkeypatch):
    """autoc: FastPath.plan_recompute for the baseline's peak minus what stays resident (here nothing)."""
    import torch

    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: 0)
    side = family_bench.make_side("ours", family_bench.FAMILIES["gemma2-9b"], family_bench.GEMMA2_TINY,
                                  torch.device("cpu"), torch.float32)
    tight = family_bench.planned_variant(side, "c", 0.0, 128)
    ample = family_bench.planned_variant(side, "c", 64.0, 128)
    assert tight == "ck2m0c" and ample == "ck0m0c"
