"""lab/gpu-all.sh --dry-run: every benchmark step of the one GPU call runs on the CPU with tiny shapes and
leaves its JSON, so the device call's plumbing is proven before device time is spent on it."""

import json
import os
import subprocess

import pytest

from conftest import REPO_ROOT, TOKENIZER_DIR


def test_gpu_all_dry_run(tmp_path):
    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        pytest.skip(f"Llama 3.1 tokenizer not found at {TOKENIZER_DIR}")
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "WORK": str(tmp_path / "work"), "PYTHONPYCACHEPREFIX": ""}
    r = subprocess.run(["bash", str(REPO_ROOT / "lab/gpu-all.sh"), "--dry-run", "--budget", "1200"],
                       env=env, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    ran = {s["step"]: s for s in steps if not s.get("skipped")}
    assert {"w1-fixed", "w2-variable", "seed-ours", "seed-baseline-shell", "seed-baseline-hf-shell",
            "seed-collect", "seed-baseline-child"} <= set(ran)
    assert all(s["rc"] == 0 for s in ran.values()), steps
    assert {s["step"] for s in steps if s.get("skipped")} == {"chat", "long"}  # CUDA only

    for name in ("w1-fixed", "w2-variable"):
        (rec,) = json.loads((out / f"{name}.records.json").read_text())
        assert rec["baseline_best_of"] == 2 and len(rec["baseline_runs_tokens_per_s"]) == 2
        assert rec["baseline"] == max(rec["baseline_runs_tokens_per_s"])
        assert rec["baseline_gpu_busy_s"] > 0 and rec["ratio_gpu_busy"] > 0 and rec["host_cpu"]
    seed = json.loads((out / "seed-run.json").read_text())
    for side in ("ours", "baseline", "baseline_hf"):
        assert seed[side]["to_adapter_saved_s"] > 0, side
        assert "adapter_model.safetensors" in seed[side]["summary"]["adapter_files"], side
    assert seed["faster_baseline"] in ("baseline", "baseline_hf") and seed["ratio_end_to_end"] > 0
    child = json.loads((out / "seed-baseline-child.json").read_text())
    assert child["baseline"]["to_adapter_saved_s"] > 0


def test_gpu_all_dry_run_of_the_named_groups_packs_its_results(tmp_path):
    """The groups run only when named (quantized bases, DPO, MoE and Gemma benchmarks) in a dry run, and --pack
    leaves one results.tgz holding every step's JSON and log."""
    import tarfile

    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "WORK": str(tmp_path / "work"), "PYTHONPYCACHEPREFIX": ""}
    r = subprocess.run(["bash", str(REPO_ROOT / "lab/gpu-all.sh"), "--dry-run", "--budget", "1200", "--pack",
                        "--groups", "gputests,quant,stages,families"],
                       env=env, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [p.name for p in out.iterdir()] == ["results.tgz"]
    with tarfile.open(out / "results.tgz") as tar:
        names = {n.removeprefix("./") for n in tar.getnames()}
        steps = [json.loads(line) for line in tar.extractfile("./steps.jsonl").read().decode().splitlines()]
    ran = {s["step"]: s for s in steps if not s.get("skipped")}
    assert set(ran) == {"quant", "dpo", "moe", "gemma2-9b"} and all(s["rc"] == 0 for s in ran.values()), steps
    assert {s["step"] for s in steps if s.get("skipped")} == {"gputests"}  # CUDA only
    assert {"quant.records.json", "dpo.records.json", "moe.records.json", "gemma2-9b.records.json",
            "host.json"} <= names
