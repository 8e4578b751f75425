"""Workload 3: the seed run end to end, LLaMA-Factory's stack vs our trainer, each as a fresh process.

    python -m bench.seed_run --model-dir /tmp/seed8b --tokenizer-dir DIR --dataset-dir DIR --out seed.json

1. Writes a random Llama-3.1-8B-shaped model (seeded bf16 weights, bench.models.seeded_init) to --model-dir as
   sharded safetensors (4 x <= 5 GB, HF layout, config.json, the Llama 3.1 tokenizer), unless it is there.
   A page-cache warm-up read follows, so both sides load from a warm cache, as the baseline's 3.7 s load was.
2. Runs each side as its own process and times it from process start to adapter saved (its "done" line) and
   to process exit: baseline = `python -m bench.seed_baseline` (a hand-written transformers + peft loop),
   baseline_hf = `python -m bench.seed_hf_trainer` (transformers' Trainer, written apart from it), ours =
   `python -m tuneboard_trainer train` (the real CLI; on CUDA it takes the fast path). Same TrainConfig JSON for both: the 91-record identity
   dataset, llama3 template, 10 epochs, batch 2, grad-acc 8, lr 1e-4 cosine, warmup_ratio 0.1, LoRA r8 / 16 on
   all 7 projections, seed 42 (LLaMA-Factory's llama3_lora_sft example settings, 10 epochs).
3. Compares the final step losses and the mean training losses, and ours against the faster baseline.

Nothing in this process touches CUDA (the model is written by a child process, the card's name comes from
nvidia-smi), and a side's output goes to a file, never a pipe: each side runs as it would from the shell,
alone on the GPU. `--prepare-only` writes the model and the configs and stops; `--collect` summarises sides
that a shell script started itself (`<work>/<side>.start` holds the launch time, `<side>.jsonl` its output),
as `lab/gpu-all.sh` does.
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
from .host import host_facts

SIDE_MODULES = {"baseline": ["-m", "bench.seed_baseline"], "baseline_hf": ["-m", "bench.seed_hf_trainer"],
                "ours": ["-m", "tuneboard_trainer", "train"],
                # ours with the weights read after the data (no overlap): what the overlap gains
                "ours_sequential": ["-m", "tuneboard_trainer", "train", "--sequential-loading"]}
BASELINES = ("baseline", "baseline_hf")


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


def read_events(path: Path, t0: float) -> list[dict]:
    """The JSON lines of a side's output file, each with `_t` = its wall-clock "time" minus the launch time."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines(keepends=True):
        if not line.endswith("\n") or not line.startswith("{"):
            continue  # a line still being written, or not ours (transformers prints its log dicts too)
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict):
            if "time" in d:
                d["_t"] = round(d["time"] - t0, 3)
            out.append(d)
    return out


def run_side(cmd: list[str], env: dict, work: Path, side: str) -> dict:
    """Run one side with its stdout and stderr in files (no pipe to drain) and print its events as they come."""
    out, err = work / f"{side}.jsonl", work / f"{side}.stderr.txt"
    t0 = time.time()
    (work / f"{side}.start").write_text(repr(t0))
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env)
    shown = 0
    while proc.poll() is None:
        time.sleep(1.0)
        events = read_events(out, t0)
        for d in events[shown:]:  # a run stopped at a time limit still shows how far each side got and when
            print(f"# {side} {json.dumps({k: v for k, v in d.items() if k != 'losses'})}", flush=True)
        shown = len(events)
    return collect_side(work, side, t_exit=time.time())


def collect_side(work: Path, side: str, t_exit: float | None = None) -> dict:
    t0 = float((work / f"{side}.start").read_text())
    events = read_events(work / f"{side}.jsonl", t0)
    done = next((e for e in events if e.get("type") == "done"), {})
    steps = [e for e in events if e.get("type") == "step"]
    if side.startswith("ours") and (work / side / "all_results.json").exists():
        done = {**done, **json.loads((work / side / "all_results.json").read_text())}
    err = work / f"{side}.stderr.txt"
    return {"to_adapter_saved_s": done.get("_t"), "to_exit_s": round(t_exit - t0, 2) if t_exit else None,
            "phases": our_phases(events) if side.startswith("ours") else None, "events": events,
            "stderr_tail": err.read_text()[-3000:] if err.exists() else "",
            "summary": {"final_step_loss": steps[-1]["loss"] if steps else None, "train_loss": done.get("train_loss"),
                        "steps": len(steps) and steps[-1]["step"], "train_s": done.get("train_s"),
                        "adapter_files": sorted(os.listdir(work / side)) if (work / side).exists() else []}}


def our_phases(events: list[dict]) -> dict:
    """Seconds per phase of our run, from its log lines (train.py, setup_log.py): the setup's phases
    ("setup took 7.1s (data 0.4s, weights 5.7s, ...)") and the run's ("timing: start-up and imports 3.2s,
    setup 7.1s, first step 1.1s, other steps 4.0s, final save 0.4s")."""
    out: dict = {}
    for e in events:
        msg = e.get("message") or ""
        if msg.startswith("setup took "):
            inner = msg[msg.find("(") + 1 : msg.find(")")]
            out["setup"] = {k: v for k, v in (_phase(p) for p in inner.split(", ")) if k}
        elif msg.startswith("timing: "):
            out["run"] = {k: v for k, v in (_phase(p) for p in msg.removeprefix("timing: ").split(", ")) if k}
    return out


def _phase(part: str) -> tuple[str | None, float | None]:
    name, _, secs = part.rpartition(" ")
    try:
        return name, float(secs.removesuffix("s"))
    except ValueError:
        return None, None


def compare(res: dict) -> None:
    """ratio_end_to_end: the faster baseline's time over ours (both from process start to adapter saved)."""
    times = {s: res[s]["to_adapter_saved_s"] for s in BASELINES if s in res and res[s].get("to_adapter_saved_s")}
    ours = res.get("ours", {}).get("to_adapter_saved_s")
    if not times or not ours:
        return
    fastest = min(times, key=times.get)
    res["faster_baseline"] = fastest
    res["ratio_end_to_end"] = round(times[fastest] / ours, 2)
    res["ratio_per_baseline"] = {s: round(t / ours, 2) for s, t in times.items()}
    print(f"# seed run end to end: ours {ours} s, baselines {json.dumps(times)}, "
          f"ratio against the faster ({fastest}) {res['ratio_end_to_end']}", flush=True)


def side_config(a, model_dir: Path, work: Path, side: str) -> Path:
    cfg = {"model_name_or_path": str(model_dir), "dataset_dir": a.dataset_dir, "dataset": ["identity"],
           "output_dir": str(work / side), "template": "llama3", "finetuning_type": "lora",
           "learning_rate": 1e-4, "num_train_epochs": a.epochs, "per_device_train_batch_size": 2,
           "gradient_accumulation_steps": 8, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
           "logging_steps": 10, "save_steps": 500, "cutoff_len": 2048, "lora_rank": 8, "lora_alpha": 16,
           "lora_target": "all", "seed": 42, "compute_type": "fp32" if a.quick else "bf16",
           "device": "cpu" if a.quick else "cuda"}
    if a.max_steps:
        cfg["max_steps"] = a.max_steps
    path = work / f"{side}.json"
    path.write_text(json.dumps(cfg))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", default="/tmp/seed8b")
    p.add_argument("--tokenizer-dir", default=None, help="needed only when the model is not written yet")
    p.add_argument("--dataset-dir", default=None)
    p.add_argument("--work", default="/tmp/seedrun")
    p.add_argument("--sides", default="baseline,baseline_hf,ours", help=f"comma list of: {', '.join(SIDE_MODULES)}")
    p.add_argument("--epochs", type=float, default=10)
    p.add_argument("--max-steps", type=int, default=0, help="cap the optimizer steps (dry runs)")
    p.add_argument("--out", default=None)
    p.add_argument("--quick", action="store_true", help="CPU smoke run: tiny model, fp32, no CUDA")
    p.add_argument("--prepare-only", action="store_true", help="write the model and the sides' configs, then stop")
    p.add_argument("--collect", action="store_true", help="summarise sides a shell started (<side>.start/.jsonl)")
    a = p.parse_args(argv)
    model_dir, work = Path(a.model_dir), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    sides = [x for x in a.sides.split(",") if x]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PYTHONUNBUFFERED": "1"}
    res = {"card": "cpu" if a.quick else host_gpu_name(), **host_facts()}
    if not a.collect:
        if not (model_dir / "model.safetensors.index.json").exists():
            # In a child: this process never creates a CUDA context of its own beside the sides'.
            cmd = [sys.executable, "-c", "import sys; from pathlib import Path; from bench.seed_run import write_model; "
                   "print(write_model(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == '1'))",
                   str(model_dir), str(a.tokenizer_dir), "1" if a.quick else "0"]
            subprocess.run(cmd, env=env, check=True)
            res["written"] = True
        res["cache_read_s"] = warm_cache(model_dir)
        for side in sides:
            side_config(a, model_dir, work, side)
        print(json.dumps(res), flush=True)
        if a.prepare_only:
            return 0
    for side in sides:
        if a.collect:
            r = collect_side(work, side)
        else:
            cmd = [sys.executable, *SIDE_MODULES[side], "--config", str(work / f"{side}.json")]
            r = run_side(cmd, env, work, side)
        res[side] = r
        print(json.dumps({side: {k: r[k] for k in ("to_adapter_saved_s", "to_exit_s", "phases", "summary")}}),
              flush=True)
        if r["to_adapter_saved_s"] is None:
            print(r["stderr_tail"], flush=True)
    compare(res)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0 if all(res[s]["to_adapter_saved_s"] is not None for s in sides) else 1


def host_gpu_name() -> str:
    """The card's name from nvidia-smi (torch.cuda would start a CUDA context in this process)."""
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
