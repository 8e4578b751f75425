"""bench.quant_bench's code paths on the CPU at a tiny shape (the GPU runs measure; this only runs them)."""

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # worker/trainer: the bench package

from bench import quant_bench  # noqa: E402


def test_quick_run_builds_trains_and_decodes_and_writes_records(tmp_path):
    out, recs = tmp_path / "quant.json", tmp_path / "records.json"
    rc = quant_bench.main(["--quick", "--device", "cpu", "--sides", "baseline,bf16,nf4,int8", "--modes", "fused",
                           "--variants", "ck0", "--steps", "1", "--warmup", "1", "--decode-tokens", "2",
                           "--baseline-best-of", "2",
                           "--json-out", str(out), "--records-out", str(recs)])
    assert rc == 0
    runs = json.loads(out.read_text())["runs"]
    assert {(r["workload"], r["side"]) for r in runs} == {("train", "baseline"), ("train", "bf16"),
                                                            ("train", "nf4"), ("train", "int8"), ("70b", "nf4")}
    assert all(r["tokens_per_s"] > 0 and r["useful_tflops"] >= 0 for r in runs)
    by_side = {r["side"]: r for r in runs if r["workload"] == "train"}
    # Same seeded weights and batches: the quantized bases start near the bf16 loss (quantization error only).
    for side in ("nf4", "int8"):
        assert abs(by_side[side]["first_loss"] - by_side["bf16"]["first_loss"]) < 0.05 * by_side["bf16"]["first_loss"]
    assert [r.get("repeat") for r in runs if r["side"] == "baseline"] == [1, 2]  # the baseline's best of two
    assert "gpu_busy" in [r for r in runs if r["side"] == "baseline"][-1]
    records = json.loads(recs.read_text())
    nf4 = next(r for r in records if r["name"] == "train.quant_nf4_2x1024")
    assert nf4["baseline_best_of"] == 2 and nf4["baseline"] == max(nf4["baseline_runs_tokens_per_s"])
    names = {r["name"] for r in records}
    assert names == {"train.quant_nf4_2x1024", "train.quant_int8_2x1024", "train.quant_nf4_70b_1x1024",
                     "chat.decode_nf4_vs_bf16"}
