"""Export memory: the streaming export vs the in-memory merge it replaced, on a Llama-3.1-8B-wide model.

    cd worker/trainer && python -m bench.export_memory --layers 8 --work /tmp/xm --out results.json
    (CPU: --shape medium --shard-mb 64; smoke: --shape tiny --layers 2 --shard-mb 1)

1. writes a random Llama-3.1-8B-shaped base (full width and vocabulary, `--layers` decoder blocks, bf16,
   5 GB shards) and a random rank-16 LoRA adapter on every projection;
2. runs each export in its own process while a thread samples the process's anonymous resident memory
   (RssAnon: the memory-mapped checkpoint pages are page cache, not the process's) every 5 ms:
   - inmemory: the old path (whole model in fp32 on the CPU, merge_lora, save_trained), bf16 output;
   - streamed (device cpu, then device cuda when there is one), bf16 output, `--shard-mb` shards;
3. checks the streamed CPU files equal the in-memory ones byte for byte, and the CUDA ones within fp32
   rounding (max abs difference reported).
A report, not a test: no assertion on memory or time. The JSON is rewritten after each stage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from .models import LLAMA31_8B, TINY
from .random_model import PeakRss, write_adapter, write_base

HERE = Path(__file__).resolve().parents[1]  # worker/trainer


# --medium: a CPU-sized model (~0.2B params at 8 layers) whose fp32 copy still dwarfs a 64 MB shard.
MEDIUM = {**LLAMA31_8B, "hidden_size": 1024, "intermediate_size": 2816, "num_attention_heads": 16,
          "num_key_value_heads": 4, "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2}


def child(mode: str, base: str, adapter: str, out: str, shard_mb: int, device: str) -> None:
    """One export in this process; prints {"peak_anon_mib", "seconds"} as the last line."""
    sys.path.insert(0, str(HERE))
    rss = PeakRss().__enter__()
    t0 = time.time()
    if mode == "inmemory":
        from tuneboard_trainer.lora import load_adapter, merge_lora
        from tuneboard_trainer.methods import save_trained
        from tuneboard_trainer.hf_weights import load_pretrained

        model = load_pretrained(base, dtype=torch.float32, device="cpu")
        load_adapter(model, adapter)
        merge_lora(model)
        save_trained(model, out, "full", base, max_shard_bytes=shard_mb * 1024**2, dtype=torch.bfloat16)
    else:
        import io

        from tuneboard_trainer.events import EventSink
        from tuneboard_trainer.export import ExportConfig, export_model

        export_model(ExportConfig.from_dict({
            "model_name_or_path": base, "adapter_path": adapter, "export_dir": out, "output_dir": out + ".job",
            "max_shard_size_mb": shard_mb, "export_dtype": "bfloat16", "device": device}), EventSink(io.StringIO()))
    seconds = time.time() - t0
    rss.__exit__()
    print(json.dumps({"peak_anon_mib": round(rss.peak_kib / 1024), "start_anon_mib": round(rss.start_kib / 1024),
                      "seconds": round(seconds, 1)}))


def compare(a: Path, b: Path, exact: bool) -> dict:
    from safetensors import safe_open

    idx = "model.safetensors.index.json"
    same_index = (a / idx).exists() == (b / idx).exists() and (
        not (a / idx).exists() or json.loads((a / idx).read_text()) == json.loads((b / idx).read_text()))
    names = sorted(p.name for p in b.glob("model*.safetensors"))
    same_index &= names == sorted(p.name for p in a.glob("model*.safetensors"))
    files_equal, max_diff = True, 0.0
    for shard in names:
        if exact:
            files_equal &= _same_bytes(a / shard, b / shard)
            continue
        with safe_open(str(a / shard), "pt") as fa, safe_open(str(b / shard), "pt") as fb:
            for k in fa.keys():
                d = (fa.get_tensor(k).float() - fb.get_tensor(k).float()).abs().max().item()
                max_diff = max(max_diff, d)
    return {"same_index": same_index, "files_byte_equal": files_equal if exact else None,
            "max_abs_diff": None if exact else max_diff}


def _same_bytes(x: Path, y: Path) -> bool:
    if x.stat().st_size != y.stat().st_size:
        return False
    with open(x, "rb") as fx, open(y, "rb") as fy:
        while True:
            bx, by = fx.read(1 << 26), fy.read(1 << 26)
            if bx != by:
                return False
            if not bx:
                return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--shard-mb", type=int, default=1024)
    ap.add_argument("--work", default="/tmp/export_memory")
    ap.add_argument("--out", default="export_memory.json")
    ap.add_argument("--shape", choices=("8b", "medium", "tiny"), default="8b",
                    help="8b: Llama-3.1-8B width and vocabulary; medium / tiny: CPU-sized models of the same architecture")
    ap.add_argument("--child", nargs=5, metavar=("MODE", "BASE", "ADAPTER", "OUT", "DEVICE"))
    args = ap.parse_args()
    if args.child:
        mode, base, adapter, out, device = args.child
        return child(mode, base, adapter, out, args.shard_mb, device)

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    report = {"layers": args.layers, "shard_mb": args.shard_mb, "cuda": torch.cuda.is_available(), "runs": {}}
    save = lambda: Path(args.out).write_text(json.dumps(report, indent=2) + "\n")  # noqa: E731
    t0 = time.time()
    report["shape"] = args.shape
    report.update(write_base(work / "base", args.layers, {"8b": LLAMA31_8B, "medium": MEDIUM, "tiny": TINY}[args.shape]))
    write_adapter(work / "base", work / "adapter")
    report["setup_s"] = round(time.time() - t0, 1)
    save()
    runs = [("inmemory", "cpu"), ("streamed", "cpu")] + ([("streamed", "cuda")] if torch.cuda.is_available() else [])
    for mode, device in runs:
        name = f"{mode}-{device}"
        out = work / name
        cmd = [sys.executable, "-m", "bench.export_memory", "--shard-mb", str(args.shard_mb),
               "--child", mode, str(work / "base"), str(work / "adapter"), str(out), device]
        p = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True)
        if p.returncode:
            report["runs"][name] = {"error": p.stderr[-3000:]}
        else:
            report["runs"][name] = json.loads(p.stdout.strip().splitlines()[-1])
            if name != "inmemory-cpu" and (work / "inmemory-cpu").exists():
                report["runs"][name].update(compare(out, work / "inmemory-cpu", exact=device == "cpu"))
                shutil.rmtree(out)
        save()
        print(name, report["runs"][name], flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
