"""bench/moe_bench.py's CPU smoke run: both sides build, train and write records (the GPU run is the measurement)."""

import json

import pytest

pytest.importorskip("peft")

from bench import moe_bench  # noqa: E402


def test_quick_run_trains_both_sides_and_writes_records(tmp_path):
    out, rec = tmp_path / "moe.json", tmp_path / "records.json"
    rc = moe_bench.main(["--quick", "--device", "cpu", "--steps", "1", "--baseline-best-of", "1",
                         "--baseline-experts", "eager", "--json-out", str(out), "--records-out", str(rec)])
    assert rc == 0
    runs = json.loads(out.read_text())["runs"]
    assert {r["side"] for r in runs} == {"baseline", "ours"} and all("error" not in r for r in runs)
    ours = next(r for r in runs if r["side"] == "ours")
    assert ours["fast_path"] == {"ckpt_layers": 2, "moe": True, "grouped_gemm_off": None}  # every block recomputed
    base = next(r for r in runs if r["side"] == "baseline")
    # Same shape, same seeded-random scale: both start near ln(vocab)
    assert abs(ours["first_loss"] - base["first_loss"]) < 0.1
    (record,) = json.loads(rec.read_text())
    assert record["name"] == "train.moe.qwen3_30b_a3b.lora.eager" and record["ratio"] > 0
    shape = moe_bench.QWEN3_30B_A3B
    # "A3B": 3.3e9 activated parameters, counting the input embedding (a lookup, no matmul)
    assert moe_bench.active_params(shape) + shape["hidden_size"] * shape["vocab_size"] == pytest.approx(3.3e9, rel=0.02)
