"""GGUF export time and peak memory on a Llama-3.1-8B-shaped model (random bf16 weights + a rank-16
LoRA adapter on every projection), CPU only.

    cd worker/trainer && nice -n 10 python -m bench.gguf_export --types f16,q4_k_m --work /tmp/gx --out gguf.json

Writes the base (full width and vocabulary, `--layers` blocks, default all 32; the Llama 3.1 tokenizer
from the demo model) and the adapter, then runs each export type in its own child process while a
thread samples the anonymous resident memory of the child and of the encoder processes it starts
(RssAnon: the memory-mapped checkpoint is page cache, not the process's). The export's own progress
events time each tensor. Each output is deleted after it is measured, the base at the end. A report,
not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .random_model import PeakRss, write_adapter, write_base

HERE = Path(__file__).resolve().parents[1]
DEMO = HERE.parents[1] / "data/models/tuneboard-demo"


def child(base: str, adapter: str, out: str, gguf_type: str) -> None:
    """One export in this process; prints the measurement as JSON on the last line."""
    sys.path.insert(0, str(HERE))
    from tuneboard_trainer.events import EventSink
    from tuneboard_trainer.export import ExportConfig, export_model

    import resource

    buf = io.StringIO()
    t0 = time.time()
    with PeakRss() as rss:
        manifest = export_model(ExportConfig.from_dict({
            "model_name_or_path": base, "adapter_path": adapter or None, "export_dir": out,
            "output_dir": out + ".job", "format": "gguf", "gguf_type": gguf_type, "device": "cpu"}), EventSink(buf))
    seconds = time.time() - t0
    # CPU seconds of this process and of its (reaped) encoder processes: the load-independent cost.
    cpu = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    stamps = [e["time"] for e in events if e.get("type") == "progress" and e.get("stage") == "gguf"]
    gaps = [round(b - a, 3) for a, b in zip(stamps, stamps[1:])]
    print(json.dumps({"seconds": round(seconds, 1), "cpu_s": round(cpu, 1), "peak_anon_mib": round(rss.peak_kib / 1024),
                      "start_anon_mib": round(rss.start_kib / 1024), "bytes": manifest["bytes"],
                      "tensor_types": manifest["tensor_types"], "slowest_tensor_s": max(gaps, default=0),
                      "load_average": os.getloadavg()}))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    from .models import LLAMA31_8B

    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=LLAMA31_8B["num_hidden_layers"])
    ap.add_argument("--types", default="f16,q4_k_m", help="comma-separated export types, each run in its own process")
    ap.add_argument("--vocab", type=int, default=LLAMA31_8B["vocab_size"], help="rows of the embedding and output")
    ap.add_argument("--no-adapter", action="store_true", help="export the base alone (no LoRA merge)")
    ap.add_argument("--work", default="/tmp/gguf_export_bench")
    ap.add_argument("--out", default="gguf_export.json")
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    report = {"shape": "llama3.1-8b", "layers": args.layers, "vocab_rows": args.vocab,
              "date": time.strftime("%Y-%m-%d", time.gmtime()), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
              "mem_total_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
              "adapter": None if args.no_adapter else "rank 16, every projection", "runs": {}}
    save = lambda: Path(args.out).write_text(json.dumps(report, indent=2) + "\n")  # noqa: E731
    try:
        t0 = time.time()
        report.update(write_base(work / "base", args.layers, {**LLAMA31_8B, "vocab_size": args.vocab}))
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(DEMO / f, work / "base" / f)
        adapter = "" if args.no_adapter else str(work / "adapter")
        if adapter:
            write_adapter(work / "base", work / "adapter")
        report["setup_s"] = round(time.time() - t0, 1)
        save()
        for gguf_type in args.types.split(","):
            out = work / f"out-{gguf_type}"
            # `python -c`, not `-m`: the encoder processes it spawns then import no benchmark module (and no torch).
            code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); from bench.gguf_export import child; "
                    f"child({str(work / 'base')!r}, {adapter!r}, {str(out)!r}, {gguf_type!r})")
            p = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True)
            report["runs"][gguf_type] = (json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0
                                         else {"error": p.stderr[-3000:]})
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(str(out) + ".job", ignore_errors=True)
            save()
            print(gguf_type, report["runs"][gguf_type], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
