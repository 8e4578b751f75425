"""Where a graphed training step's time goes, kernel by kernel, including the idle time between kernels.

    PYTHONPATH=worker/trainer python3 -m bench.step_trace --variant ck0cg --trace-out trace.json.gz --json-out a.json
    PYTHONPATH=worker/trainer python3 -m bench.step_trace --analyze trace.json.gz      # any machine, no GPU

Why: the graphed 8B step (ours `ck0cg`, 2 x 1024 tokens) replays in ~132 ms while its kernels add up to
~120 ms. key_averages() sums kernel time and cannot say where the other 12 ms go;
the trace's timestamps can. The analysis takes the busiest stream's device events (kernels, memcpys,
memsets) in time order and reports the idle gaps between them: their total, a histogram, the largest ones
with their neighbours, per-kernel totals (time and the gap before it), memcpy sizes, and the kernel sequence
of one decoder block's forward and backward.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict


def load_trace(path: str) -> dict:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def device_events(trace: dict) -> list[dict]:
    evs = [e for e in trace.get("traceEvents", [])
           if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    by_stream = defaultdict(list)
    for e in evs:
        by_stream[(e.get("pid"), e.get("tid"))].append(e)
    main = max(by_stream.values(), key=len) if by_stream else []
    return sorted(main, key=lambda e: e["ts"])


def short(name: str, n: int = 70) -> str:
    return name if len(name) <= n else name[: n - 3] + "..."


def analyze(trace: dict, steps: int) -> dict:
    evs = device_events(trace)
    if not evs:
        return {"error": "no device events in the trace"}
    gaps = [0.0] + [max(0.0, b["ts"] - (a["ts"] + a["dur"])) for a, b in zip(evs, evs[1:])]
    span = evs[-1]["ts"] + evs[-1]["dur"] - evs[0]["ts"]
    busy = sum(e["dur"] for e in evs)
    # Gaps longer than 1 ms are between steps (the host's turn), not inside a replay.
    inner = [g for g in gaps if g < 1000]
    bins = [(0, 1), (1, 2), (2, 4), (4, 8), (8, 16), (16, 64), (64, 1000), (1000, float("inf"))]
    hist = {f"{lo}-{hi}us": {"n": sum(1 for g in gaps if lo <= g < hi),
                             "ms": round(sum(g for g in gaps if lo <= g < hi) / 1000, 3)} for lo, hi in bins}
    per = defaultdict(lambda: {"n": 0, "us": 0.0, "gap_before_us": 0.0})
    for e, g in zip(evs, gaps):
        p = per[e["name"]]
        p["n"] += 1
        p["us"] += e["dur"]
        p["gap_before_us"] += g if g < 1000 else 0.0
    per_rows = sorted(({"name": short(k, 110), "per_step": v["n"] / steps, "ms_per_step": round(v["us"] / 1000 / steps, 3),
                        "gap_before_ms_per_step": round(v["gap_before_us"] / 1000 / steps, 3),
                        "mean_us": round(v["us"] / v["n"], 2),
                        "mean_gap_before_us": round(v["gap_before_us"] / v["n"], 2)} for k, v in per.items()),
                      key=lambda r: -(r["ms_per_step"] + r["gap_before_ms_per_step"]))
    top = sorted(range(1, len(evs)), key=lambda i: -gaps[i] if gaps[i] < 1000 else 0)[:40]
    top_gaps = [{"gap_us": round(gaps[i], 2), "before": short(evs[i - 1]["name"]), "after": short(evs[i]["name"])}
                for i in top]
    memcpys = [{"name": e["name"], "bytes": (e.get("args") or {}).get("bytes"), "dur_us": e["dur"],
                "prev": short(evs[i - 1]["name"]) if i else None,
                "next": short(evs[i + 1]["name"]) if i + 1 < len(evs) else None}
               for i, e in enumerate(evs) if e.get("cat") in ("gpu_memcpy", "gpu_memset")]
    size_hist = defaultdict(lambda: {"n": 0, "us": 0.0})
    for m in memcpys:
        key = f"{m['name']} {m['bytes']}B prev={m['prev']} next={m['next']}"
        size_hist[key]["n"] += 1
        size_hist[key]["us"] += m["dur_us"]
    memcpy_rows = sorted(({"what": k, "per_step": v["n"] / steps, "ms_per_step": round(v["us"] / 1000 / steps, 3)}
                          for k, v in size_hist.items()), key=lambda r: -r["ms_per_step"])

    def sequence(marker: str, which: int = 1) -> list[dict]:
        idx = [i for i, e in enumerate(evs) if marker in e["name"]]
        if len(idx) < which + 2:
            return []
        a, b = idx[which], idx[which + 1]
        return [{"name": short(evs[i]["name"], 90), "dur_us": round(evs[i]["dur"], 2), "gap_before_us": round(gaps[i], 2)}
                for i in range(a, b)]

    return {
        "events": len(evs), "events_per_step": len(evs) / steps,
        "span_ms_per_step": round(span / 1000 / steps, 3), "busy_ms_per_step": round(busy / 1000 / steps, 3),
        "gap_ms_per_step_inside": round(sum(inner) / 1000 / steps, 3),
        "mean_gap_us_inside": round(sum(inner) / max(1, len(inner)), 3),
        "gap_histogram": hist, "top_gaps": top_gaps, "per_kernel": per_rows[:80], "memcpy": memcpy_rows[:40],
        "block_forward": sequence("flash_fwd_kernel"), "block_backward": sequence("flash_bwd_dq_dk_dv"),
    }


def print_summary(a: dict) -> None:
    if "error" in a:
        print(a["error"])
        return
    print(f"events/step {a['events_per_step']:.0f}  span {a['span_ms_per_step']} ms  busy {a['busy_ms_per_step']} ms  "
          f"gaps inside {a['gap_ms_per_step_inside']} ms (mean {a['mean_gap_us_inside']} us)")
    print("gap histogram:", json.dumps(a["gap_histogram"]))
    print("\nper kernel (ms/step, gap-before ms/step, n/step, mean us, mean gap us):")
    for r in a["per_kernel"][:45]:
        print(f"  {r['ms_per_step']:8.3f} {r['gap_before_ms_per_step']:7.3f} {r['per_step']:7.1f} {r['mean_us']:8.2f} "
              f"{r['mean_gap_before_us']:6.2f}  {r['name']}")
    print("\nmemcpy/memset (per step):")
    for r in a["memcpy"][:25]:
        print(f"  {r['ms_per_step']:7.3f} ms {r['per_step']:5.1f}x  {r['what']}")
    print("\nlargest gaps:")
    for r in a["top_gaps"][:20]:
        print(f"  {r['gap_us']:8.2f} us  {r['before']}  ->  {r['after']}")
    for k in ("block_forward", "block_backward"):
        print(f"\n{k} (dur us, gap before us):")
        for r in a[k]:
            print(f"  {r['dur_us']:8.2f} {r['gap_before_us']:6.2f}  {r['name']}")


def record(variant: str, steps: int, trace_out: str) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from . import models, train_bench, workloads

    device, dtype = torch.device("cuda"), torch.bfloat16
    cfg = models.LLAMA31_8B
    side = train_bench.build_side("ours", cfg, device, dtype)
    train_bench.set_fast(side, variant, 2048)
    autocast = train_bench.make_autocast(device, dtype)
    batches = workloads.fixed_batches(3 + steps, 1024, cfg["vocab_size"], 0)
    for b in batches[:3]:
        side.step_fn(side, b, device, autocast)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for b in batches[3:]:
            side.step_fn(side, b, device, autocast)
        torch.cuda.synchronize()
    raw = trace_out[:-3] if trace_out.endswith(".gz") else trace_out
    prof.export_chrome_trace(raw)
    if raw != trace_out:
        with open(raw, "rb") as f, gzip.open(trace_out, "wb") as g:
            g.write(f.read())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.step_trace", description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="ck0cg", help="train_bench fast-path variant (fixed 2 x 1024, 8B shape)")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--trace-out", default="step_trace.json.gz")
    p.add_argument("--analyze", default=None, help="only analyse this existing trace")
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    path = args.analyze or args.trace_out
    if not args.analyze:
        record(args.variant, args.steps, args.trace_out)
    a = analyze(load_trace(path), args.steps)
    print_summary(a)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(a, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
