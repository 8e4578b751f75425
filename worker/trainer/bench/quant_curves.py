"""Loss curves of the demo identity run with full-precision, 8-bit and 4-bit base weights (same data, seed, steps).

    PYTHONPATH=worker/trainer .venv/bin/python -m bench.quant_curves --repo . --work /tmp/qc [--max-steps N]
        [--device cpu|cuda] [--out result.json]

The issue's target is "the 4-bit and 8-bit loss curves stay within 2 % of the bf16 curve at the end". Every level
runs the same config and seed, so the batches (and their order), the adapter's initialisation and the dropout masks
are the same; the runs differ only by the base weights' quantization error (the first step's loss shows how much).
A single step's loss on this run swings by tens of percent from batch to batch (two samples per micro-batch, a
different mix of questions each step), so the last five raw steps measure the batch noise, not the curve. Reported
per level, each as its difference from the full-precision run:

- tail5: the mean of the last 5 logged steps (the earlier, noisy measure, kept for comparison);
- paired_tail: the mean over the last 10 % of steps of the per-step relative difference to the full-precision run
  on the same batch (same step = same samples, so the batch noise cancels);
- ema_end: the end of an exponential moving average (alpha 0.1) of each curve;
- final_loss: the trained adapter's loss over the whole training set, one pass, on the base quantized as it trained
  (Evaluate's loss: no batch sampling, no dropout): "where the curve ends" without noise.

The 2 % check is made on final_loss and paired_tail; tail5 is printed beside them so nothing is hidden.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

from .demo_identity import AUTHOR, NAME, fill

LEVELS = (("none", "auto"), ("8", "auto"), ("4", "auto"))
TAIL = 5  # raw steps averaged at the end of each curve (tail5)
PAIRED_TAIL_FRACTION = 0.1  # share of the steps whose paired differences are averaged
EMA_ALPHA = 0.1
TARGET_PCT = 2.0


def ema_end(losses: list[float], alpha: float = EMA_ALPHA) -> float:
    v = losses[0]
    for x in losses[1:]:
        v = alpha * x + (1 - alpha) * v
    return v


def paired_tail_pct(losses: list[float], base: list[float], fraction: float = PAIRED_TAIL_FRACTION) -> float:
    """Mean of 100 (q_i - b_i) / b_i over the last `fraction` of the steps both runs logged."""
    n = min(len(losses), len(base))
    k = max(1, round(n * fraction))
    return 100 * sum((losses[i] - base[i]) / base[i] for i in range(n - k, n)) / k


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--max-steps", type=int, default=None, help="stop each run after N steps (default: the preset's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)

    from tuneboard_trainer.config import TrainConfig
    from tuneboard_trainer.demo_model import DEMO_PRESET, make_demo_model
    from tuneboard_trainer.evaluate import EvalConfig, evaluate
    from tuneboard_trainer.events import EventSink
    from tuneboard_trainer.train import train

    repo, work = a.repo.resolve(), a.work.resolve()
    model = make_demo_model(work / "model", repo / "node_modules" / "@lenml" / "tokenizer-llama3_1" / "models",
                            force=True)
    records = [fill(r, NAME, AUTHOR) for r in json.loads((repo / "data/templates/identity.json").read_text("utf-8"))]
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "identity_greatbot.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"identity_greatbot": {"file_name": "identity_greatbot.json"}}))
    results = {}
    for bits, method in LEVELS:
        out_dir = work / f"run-{bits}"
        cfg = {"seed": 42, **DEMO_PRESET, "model_name_or_path": str(model), "dataset_dir": str(data),
               "dataset": ["identity_greatbot"], "output_dir": str(out_dir), "template": "llama3",
               "finetuning_type": "lora", "save_steps": 0, "device": a.device, "quantization_bit": bits,
               "quantization_method": method, **({"max_steps": a.max_steps} if a.max_steps else {})}
        t0 = time.perf_counter()
        out = train(TrainConfig.from_dict(cfg), EventSink(io.StringIO()))
        wall = time.perf_counter() - t0
        losses = out["losses"]
        final = evaluate(EvalConfig.from_dict({
            "model_name_or_path": str(model), "dataset": ["identity_greatbot"], "dataset_dir": str(data),
            "output_dir": str(work / f"eval-{bits}"), "adapter_path": str(out_dir), "template": "llama3",
            "cutoff_len": DEMO_PRESET.get("cutoff_len", 1024), "predict": False,
        }), EventSink(io.StringIO()))["metrics"]["eval_loss"]
        results[bits] = {"tail5": sum(losses[-TAIL:]) / len(losses[-TAIL:]), "ema_end": ema_end(losses),
                         "final_loss": final, "first_step": losses[0], "steps": len(losses),
                         "wall_s": round(wall, 1), "losses": [round(x, 4) for x in losses]}
    base = results["none"]
    for bits, r in results.items():
        for key in ("tail5", "ema_end", "final_loss", "first_step"):
            r[f"{key}_diff_pct"] = round(100 * (r[key] - base[key]) / base[key], 2)
        r["paired_tail_pct"] = round(paired_tail_pct(r["losses"], base["losses"]), 2)
        r["within_target"] = bits == "none" or (abs(r["final_loss_diff_pct"]) <= TARGET_PCT
                                                and abs(r["paired_tail_pct"]) <= TARGET_PCT)
        print(f"quantization_bit {bits:>4}: final loss (whole set) {r['final_loss']:.4f} ({r['final_loss_diff_pct']:+.2f} %), "
              f"paired last {PAIRED_TAIL_FRACTION:.0%} {r['paired_tail_pct']:+.2f} %, "
              f"EMA end {r['ema_end']:.4f} ({r['ema_end_diff_pct']:+.2f} %), "
              f"last {TAIL} steps {r['tail5']:.4f} ({r['tail5_diff_pct']:+.2f} %), "
              f"first step {r['first_step_diff_pct']:+.2f} %; {r['steps']} steps, {r['wall_s']} s"
              + ("" if bits == "none" else f"; within {TARGET_PCT:g} %: {r['within_target']}"))
    if a.out:
        a.out.write_text(json.dumps({"device": a.device, "tail_steps": TAIL, "paired_tail_fraction": PAIRED_TAIL_FRACTION,
                                     "ema_alpha": EMA_ALPHA, "target_pct": TARGET_PCT, "levels": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
