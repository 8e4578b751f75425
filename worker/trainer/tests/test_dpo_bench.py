"""The DPO benchmark (bench/dpo_bench.py) end to end on the CPU with the tiny shape: LLaMA-Factory's DPO step and
ours on the fast path run, start from the same loss (log 2: LoRA B = 0 makes policy and reference one model), count
chosen + rejected tokens, and give a docs/benchmarks.json-style record."""

import json
import math

import pytest

from bench import dpo_bench


def test_quick_dpo_bench_runs_both_sides_and_writes_a_record(tmp_path):
    pytest.importorskip("peft")
    out, records = tmp_path / "dpo.json", tmp_path / "records.json"
    rc = dpo_bench.main(["--quick", "--device", "cpu", "--variants", "ck0,ck1m1", "--steps", "1",
                         "--baseline-best-of", "2", "--json-out", str(out), "--records-out", str(records)])
    assert rc == 0
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert [r["side"] for r in runs] == ["baseline", "baseline", "ours", "ours"]
    assert all("error" not in r for r in runs)
    first = [r for r in runs if r.get("repeat", 1) == 1]
    assert [r["first_loss"] for r in first[:2]] == pytest.approx([math.log(2)] * 2, abs=1e-4)
    assert all(r["tokens"] == 2 * 2 * 64 for r in runs)  # 2 pairs, chosen + rejected rows of 64 tokens
    (rec,) = json.loads(records.read_text())
    assert rec["name"] == "train.dpo_sigmoid_2x2x64" and rec["unit"] == "tokens/s"
    assert rec["ratio"] == pytest.approx(rec["ours"] / rec["baseline"], rel=1e-2)
    assert rec["baseline_best_of"] == 2 and rec["ours_variant"] in ("ck0", "ck1m1")
    assert result["gpu_busy"]["dpo"]["busy_s"] > 0


def test_train_bench_runs_the_dpo_workload_in_the_same_run(tmp_path):
    pytest.importorskip("peft")
    from bench import train_bench

    records = tmp_path / "records.json"
    rc = train_bench.main(["--quick", "--device", "cpu", "--workloads", "dpo", "--dpo-variants", "ck0",
                           "--baseline-best-of", "1", "--no-gpu-busy", "--records-out", str(records)])
    assert rc == 0
    (rec,) = json.loads(records.read_text())
    assert rec["name"] == "train.dpo_sigmoid_2x2x64" and rec["ours_variant"] == "ck0" and rec["ratio"] > 0


def test_the_cuda_graph_variant_runs_eagerly_where_there_are_no_graphs(tmp_path):
    """ck0g on the CPU: PairGraphs cannot record there, says why, and the step runs eagerly with the same loss."""
    pytest.importorskip("peft")
    out = tmp_path / "dpo.json"
    rc = dpo_bench.main(["--quick", "--device", "cpu", "--sides", "ours", "--variants", "ck0,ck0g", "--steps", "1",
                         "--json-out", str(out)])
    assert rc == 0
    runs = json.loads(out.read_text())["runs"]
    assert [r["variant"] for r in runs] == ["ck0", "ck0g"] and all("error" not in r for r in runs)


def test_later_epoch_variants_read_cached_references_and_get_their_own_record(tmp_path):
    """r: every pair's reference log-probs cached before the timed steps (a later epoch of a run); its runs make a
    second record, and the first record keeps to the variants that run the reference pass every step."""
    pytest.importorskip("peft")
    out, records = tmp_path / "dpo.json", tmp_path / "records.json"
    rc = dpo_bench.main(["--quick", "--device", "cpu", "--variants", "ck0,ck0r,ck0gr", "--steps", "1",
                         "--baseline-best-of", "1", "--no-gpu-busy", "--json-out", str(out),
                         "--records-out", str(records)])
    assert rc == 0
    runs = json.loads(out.read_text())["runs"]
    assert [r.get("variant") for r in runs] == [None, "ck0", "ck0r", "ck0gr"] and all("error" not in r for r in runs)
    same_step, later = json.loads(records.read_text())
    assert same_step["name"] == "train.dpo_sigmoid_2x2x64" and same_step["ours_variant"] == "ck0"
    assert later["name"] == "train.dpo_sigmoid_2x2x64_later_epochs" and later["ours_variant"] in ("ck0r", "ck0gr")
    assert "reference log-probs cached" in later["workload"]
