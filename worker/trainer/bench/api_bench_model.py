"""Writes the model and two LoRA adapters that scripts/bench-api.ts serves through the /v1 API.

    python -m bench.api_bench_model --out DIR --shape 8b|demo      (from worker/trainer)

DIR/models/<name>: 8b = a random Llama-3.1-8B-shaped model (bf16, bench.chat_bench's writer, CUDA
needed to write it quickly) with the demo model's Llama 3.1 tokenizer; demo = a copy of the demo model
(CPU smoke runs). DIR/runs/adapter-a and adapter-b: random rank-16 adapters on all seven projections.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "data" / "models" / "tuneboard-demo"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", choices=["8b", "demo"], default="8b")
    a = ap.parse_args()
    out = Path(a.out)
    runs = out / "runs"
    if a.shape == "8b":
        from bench.chat_bench import write_adapter, write_model

        model = out / "models" / "llama-8b-shape"
        if not (DEMO / "tokenizer.json").exists():
            raise SystemExit(f"{DEMO}: no tokenizer.json; `npm start` builds the demo model and its tokenizer first")
        if not (model / "config.json").exists():
            write_model(model)
            for f in TOKENIZER_FILES:
                if (DEMO / f).exists():
                    shutil.copy(DEMO / f, model / f)
        for n, name in enumerate(("adapter-a", "adapter-b")):
            torch.manual_seed(n)
            write_adapter(runs / name)
    else:
        from tuneboard_trainer.lora import apply_lora, save_adapter
        from tuneboard_trainer.hf_weights import load_pretrained

        model = out / "models" / "tuneboard-demo"
        if not model.exists():
            shutil.copytree(DEMO, model)
        for n, name in enumerate(("adapter-a", "adapter-b")):
            torch.manual_seed(n)
            m = apply_lora(load_pretrained(model), targets="all", r=16, alpha=32)
            with torch.no_grad():
                for k, p in m.named_parameters():
                    if "lora_B" in k:
                        p.normal_(0, 0.05)
            save_adapter(m, runs / name)
    print(model)


if __name__ == "__main__":
    main()
