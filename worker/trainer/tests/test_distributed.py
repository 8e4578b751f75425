"""Distributed training on the CPU: torchrun, 2 processes, gloo (the fallback for machines
without 2 GPUs). DDP must reproduce a single-process run with the same global batch; only rank 0
prints metrics and writes files; a failure on any rank ends the run with that rank's error."""

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from conftest import TRAINER_DIR
from test_train import make_cfg, run_events


FAIL_RANK_SUPPORT = Path(__file__).parent / "support" / "fail_rank"


def torchrun(cfg: dict, tmp_path, nproc=2, extra_env=None, timeout=300, args=(), pythonpath=()):
    cfg_path = tmp_path / f"{os.path.basename(cfg['output_dir'])}.json"
    cfg_path.write_text(json.dumps(cfg))
    path = os.pathsep.join([*map(str, pythonpath), str(TRAINER_DIR)])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **(extra_env or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc-per-node", str(nproc), "-m", "tuneboard_trainer", "train", "--config", str(cfg_path), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, events


@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "ddp-fast"])
def test_two_processes_match_one_process_with_the_same_global_batch(strategy, tmp_path, tiny_model_dir, dataset_dir):
    # One process: batch 2 x accumulation 2. Two processes: batch 2 x accumulation 1 x 2 ranks.
    # ddp: DistributedDataParallel; fsdp: FSDP2 (fully_shard), forced here (auto picks it by size);
    # ddp-fast: the packed fast path (fast/, forced on for the CPU) on both sides, where the ranks'
    # gradients are averaged by Dist.sync_grads instead of a DDP wrapper.
    extra = {"fast_path": "on"} if strategy == "ddp-fast" else {}
    single, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "single",
                                    gradient_accumulation_steps=2, max_steps=4, save_steps=2, **extra))
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, "ddp", gradient_accumulation_steps=1, max_steps=4,
                   save_steps=2, **extra)
    proc, events = torchrun(cfg, tmp_path, args=["--dist-strategy", strategy.removesuffix("-fast")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    if strategy == "ddp-fast":
        logs = [e["message"] for e in events if e["type"] == "log"]
        assert any(m.startswith("fast path: packed") for m in logs), logs
    assert proc.returncode == 0, proc.stderr[-3000:]

    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]  # rank 0 only: no step printed twice
    assert len([e for e in events if e["type"] == "started"]) == 1
    started = next(e for e in events if e["type"] == "started")
    assert started["total_steps"] == 4
    ddp_losses = [e["loss"] for e in steps]
    assert ddp_losses == pytest.approx([round(x, 4) for x in single["losses"]], abs=2e-4)
    single_tokens = single["tokens_seen"]
    done = next(e for e in events if e["type"] == "done")
    assert done["tokens_seen"] == single_tokens  # tokens of both ranks counted, once

    out = tmp_path / "ddp"
    assert (out / "adapter_model.safetensors").exists() and (out / "checkpoint-2" / "trainer_state.pt").exists()
    # The adapters agree too (the gradient is the single-process one).
    from safetensors.torch import load_file

    a = load_file(str(out / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "single" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] - b[k]).abs().max().item() < 1e-4, k


def test_a_failure_on_rank_1_fails_the_run_with_rank_1s_error(tmp_path, tiny_model_dir, dataset_dir):
    cfg = make_cfg(tmp_path, tiny_model_dir, dataset_dir, "fail", max_steps=2)
    proc, events = torchrun(cfg, tmp_path, extra_env={"TUNEBOARD_TEST_FAIL_RANK": "1"}, timeout=240,
                            pythonpath=[FAIL_RANK_SUPPORT])
    assert proc.returncode != 0
    errors = [e for e in events if e["type"] == "error"]
    assert errors, proc.stderr[-3000:]
    assert errors[0]["message"].startswith("rank 1: injected failure on rank 1")
