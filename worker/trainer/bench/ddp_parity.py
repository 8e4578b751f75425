"""2-GPU DDP vs 1-GPU: loss parity (same global batch) and throughput, through the real trainer.

    python -m bench.ddp_parity --out OUT --tokenizer-dir DIR [--steps 30] [--tiny]

Writes a random-weights Llama-shaped model (default: Llama-3.2-1B's shape, hidden 2048, 16 layers,
32/8 heads, MLP 8192, vocab 128256) and a synthetic alpaca dataset, then runs
`python -m tuneboard_trainer train` twice with identical data and seeds:
  1 GPU : per_device_train_batch_size B, gradient_accumulation_steps 2
  2 GPUs: torchrun --nproc-per-node 2, batch B, accumulation 1   (same global batch, 2B)
and compares the logged per-step losses and the tokens/s between step 5 and the last step.
Both runs take the same training path: `--fast-path auto` (default: the packed fast path of fast/, which
under DDP averages gradients with one all-reduce per optimizer step) or `off` (the reference path through a
DistributedDataParallel wrapper). `--tiny` runs a 2-layer model on the CPU with gloo (to check this script
anywhere; there `auto` means `on`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # worker/trainer

SHAPE_1B = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                num_key_value_heads=8)
SHAPE_TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2)
WORDS = ("the model learns to answer questions about itself and the world with short clear sentences "
         "while training on a small synthetic dataset made of random words drawn from this list").split()


def write_dataset(root: Path, n: int, words: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    recs = [{"instruction": " ".join(rng.choice(WORDS) for _ in range(20)), "input": "",
             "output": " ".join(rng.choice(WORDS) for _ in range(words))} for _ in range(n)]
    (root / "synthetic.json").write_text(json.dumps(recs))
    (root / "dataset_info.json").write_text(json.dumps({"synthetic": {"file_name": "synthetic.json"}}))


def run(cmd: list[str], env: dict, log: Path, timeout: float) -> tuple[int, list[dict], float]:
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        code, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        code, out, err = 124, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), str(e)
    log.write_text(out + "\n--- stderr ---\n" + (err or ""))
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, events, time.time() - t0


def throughput(steps: list[dict], skip: int = 5) -> float | None:
    if len(steps) <= skip + 1:
        return None
    a, b = steps[skip - 1], steps[-1]
    dt = b["elapsed_s"] - a["elapsed_s"]
    return (b["tokens"] - a["tokens"]) / dt if dt > 0 else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--cutoff", type=int, default=512)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--budget-s", type=float, default=270)
    ap.add_argument("--fast-path", choices=("auto", "off"), default="auto")
    args = ap.parse_args()
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"ddp-parity-{os.getpid()}"
    sys.path.insert(0, str(HERE))
    from tuneboard_trainer.demo_model import make_demo_model

    import torch

    shape = SHAPE_TINY if args.tiny else SHAPE_1B
    t0 = time.time()
    model = make_demo_model(work / "model", args.tokenizer_dir, shape=shape, linear_std=0.02)
    t_model = time.time() - t0
    write_dataset(work / "data", n=args.batch * 2 * args.steps + 16, words=args.cutoff // 2)
    base = {
        "model_name_or_path": str(model), "dataset_dir": str(work / "data"), "dataset": ["synthetic"],
        "template": "llama3", "finetuning_type": "lora", "learning_rate": 1e-4, "max_steps": args.steps,
        "per_device_train_batch_size": args.batch, "logging_steps": 1, "save_steps": 0,
        "cutoff_len": args.cutoff, "lora_rank": 8, "lora_alpha": 16, "seed": 1,
        "compute_type": "fp32" if args.tiny else "bf16", "gradient_checkpointing": True, "max_samples": 100000,
        # The same path on both sides, so the ratio is 1 vs 2 GPUs and nothing else.
        "fast_path": "on" if args.tiny and args.fast_path == "auto" else args.fast_path,
    }
    env = {**os.environ, "PYTHONPATH": str(HERE), "PYTHONUNBUFFERED": "1"}
    if args.tiny:
        env["OMP_NUM_THREADS"] = "1"
    results: dict = {"fast_path": base["fast_path"], "shape": shape, "steps": args.steps, "per_device_batch": args.batch, "cutoff": args.cutoff,
                     "global_batch": args.batch * 2, "model_write_s": round(t_model, 1),
                     "torch": torch.__version__,
                     "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
    runs = {}
    for name, nproc, accum in (("1gpu", 1, 2), ("2gpu", 2, 1)):
        cfg = {**base, "gradient_accumulation_steps": accum, "output_dir": str(work / name)}
        cfg_path = work / f"{name}.json"
        cfg_path.write_text(json.dumps(cfg))
        launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                     "--nproc-per-node", str(nproc), "-m"] if nproc > 1 else [sys.executable, "-m"])
        run_env = {**env, **({} if args.tiny else {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(nproc))})}
        left = args.budget_s - (time.time() - t_start) - 5
        code, events, wall = run(launcher + ["tuneboard_trainer", "train", "--config", str(cfg_path)], run_env,
                                 out / f"{name}.log", timeout=max(10, left if name == "2gpu" else left / 2))
        steps = [e for e in events if e["type"] == "step"]
        errors = [e["message"] for e in events if e["type"] == "error"]
        runs[name] = {"exit": code, "wall_s": round(wall, 1), "losses": [e["loss"] for e in steps],
                      "tokens_per_sec": throughput(steps), "errors": errors,
                      "device": next((e["device"] for e in events if e["type"] == "started"), None)}
        print(f"{name}: exit {code}, {len(steps)} steps in {wall:.1f}s, tokens/s {runs[name]['tokens_per_sec']}, "
              f"errors {errors[:1]}", flush=True)
    results["runs"] = runs
    a, b = runs["1gpu"]["losses"], runs["2gpu"]["losses"]
    n = min(len(a), len(b))
    if n:
        diffs = [abs(x - y) for x, y in zip(a[:n], b[:n])]
        results["loss_max_abs_diff"] = round(max(diffs), 5)
        results["loss_max_rel_diff"] = round(max(d / max(abs(x), 1e-9) for d, x in zip(diffs, a)), 5)
        results["compared_steps"] = n
    ta, tb = runs["1gpu"]["tokens_per_sec"], runs["2gpu"]["tokens_per_sec"]
    if ta and tb:
        results["speedup"] = round(tb / ta, 3)
    (out / "ddp_parity.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
