"""Quantized base weights: training throughput and memory, a 70B-shaped step, and decode, in one process.

    PYTHONPATH=worker/trainer python3 -m bench.quant_bench --json-out quant.json --records-out quant_records.json
    PYTHONPATH=worker/trainer .venv/bin/python -m bench.quant_bench --quick --device cpu     # smoke run

Workloads (the `bench.train_bench` harness: same seeded random weights, batches, LoRA r8 on all 7 projections,
AdamW, clip, tokens/s, peak memory and useful FLOPs as it defines them; the baseline runs --baseline-best-of
times, its best run is the record's, and its GPU-busy bound comes from one profiled pass):
  train   Llama-3.1-8B shape, batch 2 x 1024 (bench:train's `fixed`): the baseline (LLaMA-Factory's bf16 stack),
          our bf16 fast path, and our fast path on a 4-bit (nf4) and 8-bit (fp8 where the GPU has FP8 tensor
          cores, int8) base, each quantized matmul both ways (quant/kernels.py): "fused" (dequantize tiles in
          the GEMM) and "dequant" (one layer's bf16 weight into a buffer, then cuBLAS); fp8 also "auto" (the
          forward on the FP8 tensor cores, the input gradient through cuBLAS).
  70b     Llama-3.1-70B shape, 4-bit, batch 1 x 1024: one fast-path step; the model is built layer by layer
          on the GPU (quant_models.py), never whole in bf16.
  decode  one token's projections at the 8B shape, bf16 (cuBLAS GEMV) vs 4-bit (the fused kernel's decode
          launch), replayed as a CUDA graph (no launch overhead); and tokens/s of generate.generate_ids (our
          Transformer's dynamic KV cache) on the bf16 and the 4-bit model.
The quantized models are built directly on the device (no checkpoint on disk).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from . import models, quant_models, train_bench as tb, workloads

GIB = 1024**3


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.quant_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="train,70b,decode", help="comma list of: train, 70b, decode")
    p.add_argument("--sides", default="baseline,bf16,nf4,fp8,int8",
                   help="train: comma list of baseline, bf16, nf4, fp8, int8 (fp8 only with FP8 tensor cores)")
    p.add_argument("--modes", default="auto,fused,dequant",
                   help="quantized matmul modes to run (quant/kernels.py); auto runs where it differs from both "
                        "(fp8: FP8 tensor cores forward, cuBLAS input gradient)")
    p.add_argument("--variants", default=None,
                   help="fast-path variants of ours (bench.train_bench.set_fast); record: the fastest; "
                        "default ck32ce,ck0ce (--quick: ck0,ck2, no compile)")
    p.add_argument("--variant-70b", default=None,
                   help="the 70B step's fast-path variant; default ck80ce (--quick: ck4)")
    p.add_argument("--baseline-best-of", type=int, default=3,
                   help="timed runs of the baseline (its speed follows the host CPU): the records take the best")
    p.add_argument("--no-gpu-busy", action="store_true",
                   help="skip the baseline's GPU-busy pass (its kernel time from the profiler)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run; default 10, --quick 2")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps per run; default 3, --quick 1")
    p.add_argument("--decode-tokens", type=int, default=None, help="generate_ids tokens; default 128, --quick 4")
    p.add_argument("--quick", action="store_true", help="tiny shapes (CPU smoke run)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json-out", default=None, help="write all results as JSON here")
    p.add_argument("--records-out", default=None, help="write docs/benchmarks.json-style records here")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.variants = args.variants or ("ck0,ck2" if args.quick else "ck32ce,ck0ce")
    args.variant_70b = args.variant_70b or ("ck4" if args.quick else "ck80ce")
    return args


def _fp8_ok(device: torch.device) -> bool:
    from tuneboard_trainer.quant.run import fp8_supported

    return device.type == "cuda" and fp8_supported(device)


def _side(kind: str, cfg: dict, device, dtype) -> tb.Side:
    """A bench Side: the baseline, our bf16 model, or ours on a quantized base (kind = method)."""
    if kind in ("baseline", "bf16"):
        return tb.build_side("baseline" if kind == "baseline" else "ours", cfg, device, dtype)
    t = time.perf_counter()
    model, info = quant_models.build_quantized(cfg, kind, device, dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    tb.sync(device)
    info = {**info, "build_s": round(time.perf_counter() - t, 2),
            "resident_gib": round(torch.cuda.memory_allocated(device) / GIB, 3) if device.type == "cuda" else None}
    side = tb.Side(kind, model, tb.ours_step, params, info)
    side.make_optimizer("ours")
    return side


def _runs_of(side: tb.Side, kind: str, data: dict, cfg: dict, device, autocast, meta: dict, args, variants,
             workload: str) -> list[dict]:
    from tuneboard_trainer.quant.kernels import set_matmul_mode

    runs = []
    modes = [None] if kind in ("baseline", "bf16") else [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode == "auto" and kind != "fp8" and "dequant" in modes and workload == "train":
            continue  # at 2 x 1024 rows auto is dequant, except for an FP8 forward
        if mode:
            set_matmul_mode(mode)
        for variant in ([None] if kind == "baseline" else variants):
            if kind != "baseline":
                tb.set_fast(side, variant, max_tokens=sum(b["input_ids"].numel() for b in data["timed"][:1]))
            # The baseline launches thousands of small kernels a step, so its speed follows the host: best of N.
            repeats = max(1, args.baseline_best_of) if kind == "baseline" else 1
            for repeat in range(repeats):
                r = tb.run(side, data["warm"], data["timed"], cfg, device, autocast, meta["matmul_tflops"])
                r.update({"workload": workload, "side": kind, "mode": mode, "variant": variant, **side.info})
                if repeats > 1:
                    r["repeat"] = repeat + 1
                print(f"# {workload} {kind} {mode or ''} {variant or ''}: {_line(r)}", flush=True)
                runs.append(r)
            if kind == "baseline" and not args.no_gpu_busy:
                r["gpu_busy"] = tb.gpu_busy(side, data["timed"], device, autocast)
                print(f"# {workload} baseline GPU-busy: {r['gpu_busy'].get('gpu_busy_tokens_per_s')}", flush=True)
    set_matmul_mode("auto")
    return runs


def _line(r: dict) -> str:
    if "error" in r:
        return r["error"]
    return f"{r['tokens_per_s']} tokens/s, peak {r['peak_gib']} GiB, useful {r['useful_tflops']} TFLOP/s"


def train_workload(args, cfg, device, dtype, meta, warmup, steps, shape_70b) -> list[dict]:
    autocast = tb.make_autocast(device, dtype)
    runs = []
    if "train" in args.workloads:
        fb = workloads.fixed_batches(warmup + steps, 1024 if not args.quick else 64, cfg["vocab_size"], args.seed)
        data = {"warm": fb[:warmup], "timed": fb[warmup:]}
        variants = [v for v in args.variants.split(",") if v]
        for kind in [k for k in args.sides.split(",") if k]:
            if kind == "fp8" and not _fp8_ok(device):
                continue
            side = _side(kind, cfg, device, dtype)
            runs += _runs_of(side, kind, data, cfg, device, autocast, meta, args, variants, "train")
            del side
            tb.free(device)
    if "70b" in args.workloads:
        fb = workloads.fixed_batches(warmup + steps, 1024 if not args.quick else 64, shape_70b["vocab_size"],
                                     args.seed, batch=1)
        data = {"warm": fb[:warmup], "timed": fb[warmup:]}
        side = _side("nf4", shape_70b, device, dtype)
        args_70b = argparse.Namespace(**{**vars(args), "modes": "auto"})
        runs += _runs_of(side, "nf4", data, shape_70b, device, autocast, meta, args_70b, [args.variant_70b], "70b")
        del side
        tb.free(device)
    return runs


def _graph_time(fn, device, iters: int) -> float:
    """Seconds per call of fn: a CUDA graph replay on a GPU, eager elsewhere."""
    if device.type == "cuda":
        s = torch.cuda.Stream(device)
        s.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(s):
            for _ in range(2):
                fn()
        torch.cuda.current_stream(device).wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        call = graph.replay
    else:
        call = fn
    call()
    tb.sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        call()
    tb.sync(device)
    return (time.perf_counter() - t) / iters


def decode_workload(args, cfg, device, dtype) -> dict:
    from tuneboard_trainer.generate import generate_ids

    tokens = args.decode_tokens or (4 if args.quick else 128)
    out = {}
    for kind in ("bf16", "nf4"):
        side = _side(kind, cfg, device, dtype)
        model = side.model.eval()
        weights = quant_models.projection_weights(model)
        xs = {int(w.shape[1]): torch.randn(1, int(w.shape[1]), device=device, dtype=dtype) for w in weights}
        nbytes = sum(w.numel() * w.element_size() if isinstance(w, torch.Tensor) else w.nbytes() for w in weights)
        with torch.no_grad():
            s = _graph_time(lambda: quant_models.decode_matmuls(weights, xs, "fused"), device, 3 if args.quick else 50)
            prompt = list(range(1, 33))
            list(generate_ids(model, prompt, 2, set()))  # warm-up
            tb.sync(device)
            t = time.perf_counter()
            n = len(list(generate_ids(model, prompt, tokens, set())))
            tb.sync(device)
            rate = n / (time.perf_counter() - t)
        out[kind] = {"projections_ms_per_token": round(1000 * s, 4), "projection_bytes": nbytes,
                     "projection_gb_per_s": round(nbytes / s / 1e9, 1), "generate_tokens_per_s": round(rate, 2),
                     "generate_tokens": n}
        print(f"# decode {kind}: {json.dumps(out[kind])}", flush=True)
        del side, model, weights
        tb.free(device)
    b, q = out["bf16"], out["nf4"]
    out["projections_speedup"] = round(b["projections_ms_per_token"] / q["projections_ms_per_token"], 3)
    out["generate_speedup"] = round(q["generate_tokens_per_s"] / b["generate_tokens_per_s"], 3)
    return out


def records(runs: list, decode: dict, meta: dict) -> list[dict]:
    """docs/benchmarks.json-style records: per quantized side, its fastest run against the baseline and our bf16
    fast path from the same process."""
    ok = [r for r in runs if "error" not in r]
    best = lambda side, wl="train": max((r for r in ok if r["side"] == side and r["workload"] == wl),  # noqa: E731
                                        key=lambda r: r["tokens_per_s"], default=None)
    base, bf16 = best("baseline"), best("bf16")
    base_runs = [r for r in ok if r["side"] == "baseline" and r["workload"] == "train"]
    bound = next((r["gpu_busy"].get("gpu_busy_tokens_per_s") for r in base_runs if "gpu_busy" in r), None)
    out = []
    for side in ("nf4", "fp8", "int8"):
        r = best(side)
        if r is None:
            continue
        out.append({"name": f"train.quant_{side}_2x1024", "ours": r["tokens_per_s"], "unit": "tokens/s",
                    "baseline": base and base["tokens_per_s"], "bf16_fast": bf16 and bf16["tokens_per_s"],
                    "ratio": round(r["tokens_per_s"] / base["tokens_per_s"], 3) if base else None,
                    "ratio_to_bf16_fast": round(r["tokens_per_s"] / bf16["tokens_per_s"], 3) if bf16 else None,
                    "ours_peak_gib": r["peak_gib"], "ours_useful_tflops": r["useful_tflops"],
                    "baseline_peak_gib": base and base["peak_gib"], "baseline_best_of": len(base_runs),
                    "baseline_runs_tokens_per_s": [b["tokens_per_s"] for b in base_runs],
                    "baseline_gpu_busy_tokens_per_s": bound,
                    "ratio_gpu_busy": round(r["tokens_per_s"] / bound, 3) if bound else None,
                    "host_cpu": meta.get("host_cpu"), "gpu_clock_mhz": r.get("gpu_clock_mhz"),
                    "baseline_gpu_clock_mhz": base and base.get("gpu_clock_mhz"),
                    "mode": r["mode"], "ours_variant": r["variant"], "card": meta["card"], "date": tb.DATE})
    r70 = best("nf4", "70b")
    if r70 is not None:
        out.append({"name": "train.quant_nf4_70b_1x1024", "ours": r70["tokens_per_s"], "unit": "tokens/s",
                    "ours_peak_gib": r70["peak_gib"], "ours_useful_tflops": r70["useful_tflops"],
                    "card": meta["card"], "date": tb.DATE})
    if decode:
        out.append({"name": "chat.decode_nf4_vs_bf16", "ours": decode["nf4"]["generate_tokens_per_s"],
                    "baseline": decode["bf16"]["generate_tokens_per_s"], "unit": "tokens/s",
                    "ratio": decode["generate_speedup"], "projections_speedup": decode["projections_speedup"],
                    "card": meta["card"], "date": tb.DATE})
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16
    cfg = models.TINY if args.quick else models.LLAMA31_8B
    shape_70b = quant_models.TINY_DEEP if args.quick else quant_models.LLAMA31_70B
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    steps = args.steps or (2 if args.quick else 10)
    meta = tb.bench_meta(args, device, cfg, dtype, args.quick)
    runs = train_workload(args, cfg, device, dtype, meta, warmup, steps, shape_70b)
    decode = decode_workload(args, cfg, device, dtype) if "decode" in args.workloads else {}
    recs = records(runs, decode, meta)
    for rec in recs:
        print(json.dumps(rec), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"meta": meta, "runs": runs, "decode": decode}, indent=1))
    if args.records_out:
        Path(args.records_out).write_text(json.dumps(recs, indent=1))
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
