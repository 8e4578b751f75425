"""Workload 3: the seed run end to end, LLaMA-Factory's stack vs our trainer, each as a fresh process.

    python -m bench.seed_run --model-dir /tmp/seed8b --tokenizer-dir DIR --dataset-dir DIR --out seed.json

1. Writes a random Llama-3.1-8B-shaped model (seeded bf16 weights, bench.models.seeded_init) to --model-dir as
   sharded safetensors (4 x <= 5 GB, HF layout, config.json, the Llama 3.1 tokenizer), unless it is there.
   A page-cache warm-up read follows, so both sides load from a warm cache, as the baseline's 3.7 s load was.
2. Runs each side as its own process and times it from process start to adapter saved (its "done" line) and
   to process exit: baseline = `python -m bench.seed_baseline`, ours = `python -m tuneboard_trainer train`
   (the real CLI; on CUDA it takes the fast path). Same TrainConfig JSON for both: the 91-record identity
   dataset, llama3 template, 10 epochs, batch 2, grad-acc 8, lr 1e-4 cosine, warmup_ratio 0.1, LoRA r8 / 16 on
   all 7 projections, seed 42 (LLaMA-Factory's llama3_lora_sft example settings, 10 epochs).
3. Compares the final step losses and the mean training losses.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from . import models


def write_model(model_dir: Path, tokenizer_dir: Path, quick: bool = False) -> dict:
    from tuneboard_trainer.model import ModelConfig, Transformer
    from tuneboard_trainer.hf_weights import save_hf_model

    if (model_dir / "model.safetensors.index.json").exists():
        return {"written": False}
    t = time.time()
    model_dir.mkdir(parents=True, exist_ok=True)
    cfg = dict(models.LLAMA31_8B, torch_dtype="bfloat16")
    dev = "cuda"
    if quick:  # CPU smoke run: tiny body, the real vocabulary (the tokenizer's ids)
        cfg, dev = dict(models.TINY, vocab_size=models.LLAMA31_8B["vocab_size"], torch_dtype="bfloat16"), "cpu"
    with models.default_dtype(torch.bfloat16), torch.device(dev):
        model = Transformer(ModelConfig.from_hf(cfg))
    models.seeded_init(model)
    save_hf_model(model, model_dir, max_shard_bytes=5 * 1024**3 if not quick else 8 * 1024**2)
    (model_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_dir / f, model_dir / f)
    del model
    if not quick:
        torch.cuda.empty_cache()
    return {"written": True, "write_s": round(time.time() - t, 1)}


def warm_cache(model_dir: Path) -> float:
    t = time.time()
    for f in sorted(model_dir.glob("*.safetensors")):
        with open(f, "rb") as fh:
            while fh.read(1 << 26):
                pass
    return round(time.time() - t, 2)


def run_side(cmd: list[str], env: dict, log: Path, side: str) -> dict:
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "w"), env=env, text=True)
    lines, done_t = [], None
    for line in proc.stdout:
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        d["_t"] = round(time.time() - t0, 3)
        lines.append(d)
        # Streamed as it comes, so a run stopped at a time limit still shows how far each side got and when.
        print(f"# {side} {json.dumps({k: v for k, v in d.items() if k != 'losses'})}", flush=True)
        if d.get("type") == "done" and done_t is None:
            done_t = d["_t"]
    rc = proc.wait()
    return {"rc": rc, "to_adapter_saved_s": done_t, "to_exit_s": round(time.time() - t0, 2), "events": lines,
            "stderr_tail": log.read_text()[-3000:]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", default="/tmp/seed8b")
    p.add_argument("--tokenizer-dir", required=True)
    p.add_argument("--dataset-dir", required=True)
    p.add_argument("--work", default="/tmp/seedrun")
    p.add_argument("--sides", default="baseline,ours")
    p.add_argument("--epochs", type=float, default=10)
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true", help="CPU smoke run: tiny model, fp32, no CUDA")
    a = p.parse_args(argv)
    model_dir, work = Path(a.model_dir), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    res = {"write": write_model(model_dir, Path(a.tokenizer_dir), a.quick), "cache_read_s": warm_cache(model_dir),
           "card": "cpu" if a.quick else torch.cuda.get_device_name(), "torch": torch.__version__}
    print(json.dumps(res), flush=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PYTHONUNBUFFERED": "1"}
    for side in a.sides.split(","):
        cfg = {"model_name_or_path": str(model_dir), "dataset_dir": a.dataset_dir, "dataset": ["identity"],
               "output_dir": str(work / side), "template": "llama3", "finetuning_type": "lora",
               "learning_rate": 1e-4, "num_train_epochs": a.epochs, "per_device_train_batch_size": 2,
               "gradient_accumulation_steps": 8, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
               "logging_steps": 10, "save_steps": 500, "cutoff_len": 2048, "lora_rank": 8, "lora_alpha": 16,
               "lora_target": "all", "seed": 42, "compute_type": "fp32" if a.quick else "bf16",
               "device": "cpu" if a.quick else "cuda"}
        cfg_path = work / f"{side}.json"
        cfg_path.write_text(json.dumps(cfg))
        if side == "baseline":
            cmd = [sys.executable, "-m", "bench.seed_baseline", "--config", str(cfg_path)]
        else:
            cmd = [sys.executable, "-m", "tuneboard_trainer", "train", "--config", str(cfg_path)]
        r = run_side(cmd, env, work / f"{side}.stderr.txt", side)
        done = next((e for e in r["events"] if e.get("type") == "done"), {})
        steps = [e for e in r["events"] if e.get("type") == "step"]
        if side == "ours" and (work / side / "all_results.json").exists():
            done = {**done, **json.loads((work / side / "all_results.json").read_text())}
        r["summary"] = {"final_step_loss": steps[-1]["loss"] if steps else None,
                        "train_loss": done.get("train_loss"), "steps": len(steps) and steps[-1]["step"],
                        "adapter_files": sorted(os.listdir(work / side)) if (work / side).exists() else []}
        res[side] = r
        print(json.dumps({side: {k: r[k] for k in ("rc", "to_adapter_saved_s", "to_exit_s", "summary")}}), flush=True)
        if r["rc"] != 0:
            print(r["stderr_tail"], flush=True)
    if "baseline" in res and "ours" in res and res["baseline"]["to_adapter_saved_s"] and res["ours"]["to_adapter_saved_s"]:
        res["ratio_end_to_end"] = round(res["baseline"]["to_adapter_saved_s"] / res["ours"]["to_adapter_saved_s"], 2)
        print(f"# seed run end to end: baseline {res['baseline']['to_adapter_saved_s']} s, ours "
              f"{res['ours']['to_adapter_saved_s']} s, ratio {res['ratio_end_to_end']}", flush=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
