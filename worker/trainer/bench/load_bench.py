"""Checkpoint load time onto one GPU: the threaded `safe_open` reader vs the staged pinned-buffer reader.

    python -m bench.load_bench --model-dir DIR [--repeat 2] [--out results.json]   (from worker/trainer)
    python -m bench.load_bench --model-dir /tmp/tb-load/model --write-model ...     (writes a random
        Llama-3.1-8B-shaped bf16 checkpoint there first if it holds none: bench/chat_bench.py's writer, CUDA only)

What one measurement is: a fresh Python process (`--one METHOD`, so no CUDA context, caching allocator or
pinned host cache carries over from an earlier run) initialises CUDA first and reports that time separately
(`cuda_init_s`), then times `read_weights(model_dir, device, None, method=...)` up to its final device
synchronize (`read_s`), and reports the bytes read, GB/s, the staged reader's per-phase seconds summed over
threads (`stats`: buffer allocation, waiting on a buffer's previous transfer, reading the file, issuing the
copy), and a checksum of every tensor (an exact byte sum, a block-position-weighted byte sum that catches
chunks written at the wrong offset, and the float sums of a few tensors) so the methods can be checked to
read identical values. Methods: `safe_open` (the old path) and `staged@MIB` for each `--buffer-mib` value
(the size of each of the two pinned buffers per thread). The parent reads every file once first so all runs
start from a warm page cache, runs the methods `--repeat` times alternating, prints one JSON line per run and
a summary, and rewrites `--out` after every run (a run cut short keeps what it measured).

`--device cpu` runs the same plumbing without a GPU (CUDA init skipped): the CPU smoke test uses it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BLOCK = 4096  # bytes per block of the position-weighted checksum


def _checksum(sd: dict) -> dict:
    import torch

    byte_sum = positional = 0
    for i, name in enumerate(sorted(sd)):
        flat = sd[name].reshape(-1).view(torch.uint8)
        n = flat.numel()
        if n == 0:
            continue
        byte_sum += int(flat.sum(dtype=torch.int64))
        full = n // BLOCK * BLOCK
        blocks = flat[:full].view(-1, BLOCK).sum(1, dtype=torch.int64)
        w = torch.arange(1, blocks.numel() + 1, dtype=torch.int64, device=flat.device)
        tail = int(flat[full:].sum(dtype=torch.int64)) * (blocks.numel() + 1)
        positional += (i + 1) * (int((blocks * w).sum()) + tail)
    floats = [k for k in sorted(sd) if sd[k].dtype in (torch.float16, torch.bfloat16, torch.float32,
                                                       torch.float64) and sd[k].numel()][:4]
    return {"bytes": byte_sum, "positional": positional,
            "float_sums": {k: float(sd[k].sum(dtype=torch.float64)) for k in floats}}


def run_one(args) -> dict:
    """One measurement in this (fresh) process; the JSON line is printed by main."""
    t_start = time.perf_counter()
    import torch

    from tuneboard_trainer.safetensors_io import read_weights

    res: dict = {"method": args.one, "device": args.device, "import_s": round(time.perf_counter() - t_start, 3)}
    dev = torch.device(args.device)
    if dev.type == "cuda":
        t0 = time.perf_counter()
        torch.cuda.init()
        torch.zeros(1, device=dev)
        torch.cuda.synchronize(dev)
        res["cuda_init_s"] = round(time.perf_counter() - t0, 3)
        res["gpu"] = torch.cuda.get_device_name(dev)
    method, _, mib = args.one.partition("@")
    stats: dict = {}
    t0 = time.perf_counter()
    sd = read_weights(args.model_dir, dev, None, threads=args.threads, inference=True, method=method,
                      buffer_bytes=max(1, int(float(mib) * 2**20)) if mib else None, stats=stats)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)  # read_weights already did; kept so the timing cannot stop short
    read_s = time.perf_counter() - t0
    nbytes = sum(t.numel() * t.element_size() for t in sd.values())
    res.update({"read_s": round(read_s, 3), "bytes": nbytes, "gb": round(nbytes / 1e9, 3),
                "gb_per_s": round(nbytes / 1e9 / max(read_s, 1e-9), 2), "tensors": len(sd),
                "threads": args.threads})
    if stats:
        res["stats"] = stats
    if dev.type == "cuda":
        res["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated(dev) / 1e9, 2)
    with torch.inference_mode():
        res["checksum"] = _checksum(sd)
    return res


def warm_cache(model_dir: Path) -> dict:
    """Read every file once so every measured run starts from the page cache (no run pays for the disk)."""
    from tuneboard_trainer.safetensors_io import weight_files

    t0, n = time.perf_counter(), 0
    buf = bytearray(64 * 2**20)
    for f in weight_files(model_dir):
        with open(f, "rb", buffering=0) as fh:
            while r := fh.readinto(buf):
                n += r
    s = time.perf_counter() - t0
    return {"warm_read_s": round(s, 3), "gb": round(n / 1e9, 3), "gb_per_s_one_thread": round(n / 1e9 / max(s, 1e-9), 2)}


def summarize(runs: list[dict]) -> dict:
    out = {}
    for m in dict.fromkeys(r["method"] for r in runs):
        ok = [r for r in runs if r["method"] == m and r.get("ok")]
        if ok:
            times = [r["read_s"] for r in ok]
            out[m] = {"runs": len(ok), "best_s": min(times), "median_s": round(statistics.median(times), 3),
                      "best_gb_per_s": max(r["gb_per_s"] for r in ok)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True, type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="reader threads (default: read_weights' own choice)")
    ap.add_argument("--methods", default="safe_open,staged", help="comma-separated: safe_open, staged")
    ap.add_argument("--buffer-mib", default="32", help="comma-separated pinned buffer sizes for staged (MiB)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--write-model", action="store_true",
                    help="write a random Llama-3.1-8B-shaped checkpoint to --model-dir if it holds none (CUDA)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per measured subprocess")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: one measurement in this process
    args = ap.parse_args()

    if args.one:
        print(json.dumps(run_one(args)), flush=True)
        return

    res: dict = {"model_dir": str(args.model_dir), "device": args.device, "argv": sys.argv[1:], "runs": []}
    if args.write_model and not any(args.model_dir.glob("*.safetensors")):
        from bench.chat_bench import write_model

        t0 = time.perf_counter()
        res["weight_bytes"] = write_model(args.model_dir)
        res["write_model_s"] = round(time.perf_counter() - t0, 1)
    res["warm_cache"] = warm_cache(args.model_dir)
    print(json.dumps({"warm_cache": res["warm_cache"]}), flush=True)

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    variants = []
    for m in methods:
        if m == "staged":
            variants += [f"staged@{b.strip()}" for b in args.buffer_mib.split(",") if b.strip()]
        elif m == "safe_open":
            variants.append(m)
        else:
            ap.error(f"unknown method {m!r}")

    def save() -> None:
        if args.out:
            args.out.write_text(json.dumps(res, indent=2))

    for rep in range(args.repeat):
        for v in variants:
            cmd = [sys.executable, "-m", "bench.load_bench", "--one", v, "--model-dir", str(args.model_dir),
                   "--device", args.device] + (["--threads", str(args.threads)] if args.threads else [])
            t0 = time.perf_counter()
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                                   cwd=Path(__file__).resolve().parents[1])
                lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
                if p.returncode == 0 and lines:
                    run = {**json.loads(lines[-1]), "ok": True}
                else:
                    run = {"method": v, "ok": False, "rc": p.returncode, "stderr_tail": p.stderr[-3000:]}
            except subprocess.TimeoutExpired:
                run = {"method": v, "ok": False, "error": f"timed out after {args.timeout} s"}
            run.update({"repeat": rep, "process_s": round(time.perf_counter() - t0, 3)})
            res["runs"].append(run)
            print(json.dumps(run), flush=True)
            res["summary"] = summarize(res["runs"])
            sums = {json.dumps(r["checksum"], sort_keys=True) for r in res["runs"] if r.get("ok")}
            res["checksums_agree"] = len(sums) == 1
            save()

    print("summary:", json.dumps(res.get("summary", {}), indent=2))
    print("checksums agree across methods and runs:", res.get("checksums_agree"))
    if not all(r.get("ok") for r in res["runs"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
