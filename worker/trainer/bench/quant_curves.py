"""Loss curves of the demo identity run with full-precision, 8-bit and 4-bit base weights (same data, seed, steps).

    PYTHONPATH=worker/trainer .venv/bin/python -m bench.quant_curves --repo . --work /tmp/qc [--max-steps N]
        [--device cpu|cuda] [--out result.json]

Prints, per quantization level, the mean loss of the last logged steps and its difference from the
full-precision run (the issue's target: within 2 % at the end).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

from .demo_identity import AUTHOR, NAME, fill

LEVELS = (("none", "auto"), ("8", "auto"), ("4", "auto"))
TAIL = 5  # steps averaged at the end of each curve


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
        cfg = {"seed": 42, **DEMO_PRESET, "model_name_or_path": str(model), "dataset_dir": str(data),
               "dataset": ["identity_greatbot"], "output_dir": str(work / f"run-{bits}"), "template": "llama3",
               "finetuning_type": "lora", "save_steps": 0, "device": a.device, "quantization_bit": bits,
               "quantization_method": method, **({"max_steps": a.max_steps} if a.max_steps else {})}
        t0 = time.perf_counter()
        out = train(TrainConfig.from_dict(cfg), EventSink(io.StringIO()))
        losses = out["losses"]
        results[bits] = {"final": sum(losses[-TAIL:]) / len(losses[-TAIL:]), "steps": len(losses),
                         "wall_s": round(time.perf_counter() - t0, 1), "losses": [round(x, 4) for x in losses]}
    base = results["none"]["final"]
    for bits, r in results.items():
        r["diff_pct"] = round(100 * (r["final"] - base) / base, 2)
        print(f"quantization_bit {bits:>4}: final loss {r['final']:.4f} ({r['diff_pct']:+.2f} % vs none) "
              f"after {r['steps']} steps, {r['wall_s']} s")
    if a.out:
        a.out.write_text(json.dumps({"device": a.device, "tail_steps": TAIL, "levels": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
