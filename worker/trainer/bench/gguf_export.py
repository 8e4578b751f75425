"""GGUF export time and memory on a Llama-3.1-8B-shaped model (random bf16 weights + a rank-16 LoRA
adapter on every projection), CPU only.

    cd worker/trainer && python -m bench.gguf_export --layers 2 --type q4_k_m --work /tmp/gx --out gguf.json

Writes the base (full width and vocabulary, `--layers` blocks, the Llama 3.1 tokenizer from the demo
model) and the adapter, then exports in a child process while a thread samples its anonymous resident
memory (RssAnon: the memory-mapped checkpoint is page cache, not the process's). The export's own
progress events time each tensor, so the report has the per-block time and the time of the embedding
and output matrices, and extrapolates to 32 blocks. A report, not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from .export_memory import _rss_anon_kib, write_adapter, write_base
from .models import LLAMA31_8B

HERE = Path(__file__).resolve().parents[1]
DEMO = HERE.parents[1] / "data/models/tuneboard-demo"


def child(base: str, adapter: str, out: str, gguf_type: str) -> None:
    sys.path.insert(0, str(HERE))
    from tuneboard_trainer.events import EventSink
    from tuneboard_trainer.export import ExportConfig, export_model

    peak = [_rss_anon_kib()]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_anon_kib())
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()
    buf = io.StringIO()
    t0 = time.time()
    manifest = export_model(ExportConfig.from_dict({
        "model_name_or_path": base, "adapter_path": adapter, "export_dir": out, "output_dir": out + ".job",
        "format": "gguf", "gguf_type": gguf_type, "device": "cpu"}), EventSink(buf))
    seconds = time.time() - t0
    stop.set()
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    stamps = [e["time"] for e in events if e.get("type") == "progress" and e.get("stage") == "gguf"]
    print(json.dumps({"peak_anon_mib": round(peak[0] / 1024), "seconds": round(seconds, 1),
                      "tensor_seconds": [round(b - a, 3) for a, b in zip(stamps, stamps[1:])],
                      "bytes": manifest["bytes"], "tensor_types": manifest["tensor_types"]}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--type", default="q4_k_m")
    ap.add_argument("--vocab", type=int, default=LLAMA31_8B["vocab_size"],
                    help="rows of the embedding and output matrices; fewer on a slow CPU (their times are "
                         "scaled back to the full vocabulary: encoding time is linear in the values)")
    ap.add_argument("--work", default="/tmp/gguf_export_bench")
    ap.add_argument("--out", default="gguf_export.json")
    ap.add_argument("--child", nargs=4, metavar=("BASE", "ADAPTER", "OUT", "TYPE"))
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.time()
    info = write_base(work / "base", args.layers, {**LLAMA31_8B, "vocab_size": args.vocab})
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(DEMO / f, work / "base" / f)
    write_adapter(work / "base", work / "adapter")
    setup = time.time() - t0
    proc = subprocess.run([sys.executable, "-m", "bench.gguf_export", "--child", str(work / "base"),
                           str(work / "adapter"), str(work / "out"), args.type],
                          cwd=HERE, capture_output=True, text=True, check=True)
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    # Tensor order: [rope_freqs], token_embd, 9 tensors per block, output_norm, output.
    secs = run.pop("tensor_seconds")
    first = 1 if len(secs) == 2 + 9 * args.layers + 2 else 0
    embed = secs[first]
    blocks = secs[first + 1:first + 1 + 9 * args.layers]
    per_block = sum(blocks) / args.layers
    scale = LLAMA31_8B["vocab_size"] / args.vocab
    rest = run["seconds"] - sum(blocks) - embed - secs[-1]  # header, tokenizer, norms, Modelfile, card
    report = {"shape": "llama3.1-8b", "layers": args.layers, "vocab_rows": args.vocab, "type": args.type, **info,
              "setup_s": round(setup, 1), **run, "embedding_s": round(embed, 1), "output_s": round(secs[-1], 1),
              "per_block_s": round(per_block, 1),
              "extrapolated_8b_s": round(rest + (embed + secs[-1]) * scale + 32 * per_block, 1)}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
