"""Training throughput: LLaMA-Factory's stack vs our trainer, side by side in one process on one GPU.

    PYTHONPATH=worker/trainer python3 -m bench.train_bench                       # Llama-3.1-8B shape, GPU
    PYTHONPATH=worker/trainer python3 -m bench.train_bench --variants packed,nockpt --profile \
        --json-out results.json --records-out records.json
    PYTHONPATH=worker/trainer .venv/bin/python -m bench.train_bench --quick --device cpu   # smoke run
    PYTHONPATH=worker/trainer python3 -m bench.train_bench --workloads dpo   # DPO: bench/dpo_bench.py's workload

Sides (same seeded random weights, same batches, LoRA r8 / alpha 16 / dropout 0 on q,k,v,o,gate,up,down):
  baseline  transformers LlamaForCausalLM (sdpa) + peft, gradient checkpointing (use_reentrant=False),
            fp32 adapters, bf16 weights + bf16 autocast, loss from `labels` (HF's full-logits loss),
            per-batch padding with an attention_mask -- LLaMA-Factory's stack.
  ours      tuneboard_trainer: Transformer + methods.prepare_model("lora"), train.enable_gradient_checkpointing,
            train.forward_batch, model.lm_loss (labelled positions only, chunked), bf16 weights, fp32
            adapters, bf16 autocast.
Both: torch.optim.AdamW (train.build_optimizer for ours), clip_grad_norm_(1.0), one micro-batch per
optimizer step (gradient_accumulation_steps=1, so a "step" is forward + backward + clip + AdamW).

Variants of ours (extra rows, not the headline records): `packed` (variable workload through
data.pack_examples: rows of <= cutoff tokens, block-diagonal mask), `nockpt` (gradient checkpointing off) and
`nocudnn` (SDPA's cuDNN backend disabled, so attention goes to flash / memory-efficient kernels, which need no
per-shape plan).

Added after the first GPU run (opt-in; defaults reproduce the recorded numbers): `--pad-multiple 8` pads every
padded batch to a multiple of 8 as LLaMA-Factory's SFT collator does (fewer distinct shapes), and
`--shape-warmup` runs one untimed pass over the timed `variable` batches first, so the timed pass measures the
steady state of a long run (every sequence length already seen) instead of first-encounter costs.

Host-independent baselines: the baseline runs --baseline-best-of times (default 3) per workload in the same
process, and its record is the fastest; a profiled pass over the same timed steps then measures its GPU-busy
time (bench.gpu_busy: the union of kernel intervals, what the steps would take on an infinitely fast host CPU)
and the tokens/s that implies. Records carry our ratio against both (`ratio`, `ratio_gpu_busy`), the host CPU
model and the SM clock sampled while each side's timed steps ran (`gpu_clock_mhz`, `baseline_gpu_clock_mhz`).

Reported per run: tokens/s (non-padding tokens / timed wall time), median and mean step time, peak GPU
memory (torch.cuda.max_memory_allocated, reset per run; it includes the resident weights), first-step loss
(both sides must agree: same weights, same data), useful TFLOP/s and its share of a bf16 matmul rate
measured in this process (8192^3 torch.matmul).

Useful FLOPs of a step = sum over samples (length L) of 4 * N * L + 3 * n_layers * hidden * L^2
(`useful_flops`): 4N per token (forward 2N + input-gradient backward 2N; the frozen base weights need no
weight gradient; N = matmul parameters = decoder projections + lm_head, ~7.5e9 at 8B) plus causal
attention (QK^T and PV: forward 2 * hidden * L^2 per layer, backward twice that). Recompute from
gradient checkpointing and the LoRA matmuls (~0.3 % of N) are not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import json
import os
import platform
import re
import sys
import time
import traceback
from typing import Optional

import torch

from . import models, workloads
from .gpu_busy import ClockSampler, busy_time
from .host import host_facts

DATE = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
GIB = 1024**3


# ------------------------------------------------------------------------------------------ helpers

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def card_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def measure_matmul(device: torch.device, dtype: torch.dtype, n: int, iters: int = 20) -> float:
    """TFLOP/s of an n x n x n matmul in `dtype` (bf16 on GPU), mean of `iters` after 3 warm-ups."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        a @ b
    sync(device)
    dt = (time.perf_counter() - t) / iters
    del a, b
    free(device)
    return 2 * n**3 / dt / 1e12


def sample_lengths(b: dict) -> list[int]:
    """Lengths of the samples in a collated batch (packed rows: one per segment)."""
    out = []
    mask = b["attention_mask"]
    if "position_ids" in b:
        for row_pos, row_mask in zip(b["position_ids"], mask):
            pos = row_pos[row_mask.bool()].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            out += [starts[k + 1] - starts[k] for k in range(len(starts) - 1)]
    else:
        out = [int(x) for x in mask.sum(dim=1)]
    return [n for n in out if n > 0]


def useful_flops(b: dict, cfg: dict) -> float:
    n_mm = models.matmul_params(cfg)
    lens = sample_lengths(b)
    attn = 6 * cfg["num_hidden_layers"] * cfg["hidden_size"] * sum(L * L / 2 for L in lens)  # causal: L^2/2 pairs
    return 4.0 * n_mm * sum(lens) + attn


# ------------------------------------------------------------------------------------------ steps

def make_autocast(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class Side:
    """A built model + optimizer and its one-step function."""

    def __init__(self, name: str, model, step_fn, params, info: dict):
        self.name, self.model, self.step_fn, self.params, self.info = name, model, step_fn, params, info
        self.opt = None
        self.fast = None
        self.compiled_fast = None
        self.graphs = None
        self.plan = None  # a plan variant's recompute decision (plan_recompute_under_cap)

    def make_optimizer(self, kind: str):
        if kind == "ours":
            from tuneboard_trainer.train import build_optimizer

            self.opt = build_optimizer(self.model, lr=1e-4, weight_decay=0.0)
        else:
            self.opt = torch.optim.AdamW(self.params, lr=1e-4)


def baseline_step(side: Side, b: dict, device, autocast) -> torch.Tensor:
    with autocast:
        out = side.model(input_ids=b["input_ids"].to(device), attention_mask=b["attention_mask"].to(device),
                         labels=b["labels"].to(device))
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(side.params, 1.0)
    side.opt.step()
    side.opt.zero_grad(set_to_none=True)
    return out.loss.detach()


def ours_step(side: Side, b: dict, device, autocast) -> torch.Tensor:
    from tuneboard_trainer.loss import lm_loss
    from tuneboard_trainer.train import forward_batch

    with autocast:
        loss, n = lm_loss(side.model, forward_batch(side.model, b, device), b["labels"].to(device))
    (loss / max(1, n)).backward()
    torch.nn.utils.clip_grad_norm_(side.params, 1.0)
    side.opt.step()
    side.opt.zero_grad(set_to_none=True)
    return loss.detach() / max(1, n)


def fast_step(side: Side, b: dict, device, autocast) -> torch.Tensor:
    """Ours with the fast path (tuneboard_trainer.fast, as train.train uses it on CUDA): the batch's samples
    packed without padding into micro-batches of <= max_tokens, loss normalised over the batch's labelled tokens."""
    from tuneboard_trainer.templates import IGNORE_INDEX

    mbs = side.fast.pack([b])
    n = sum(int((mb["targets"] != IGNORE_INDEX).sum()) for mb in mbs)
    total = torch.zeros((), device=device)
    for mb in mbs:
        with autocast:
            loss, _ = side.fast.loss(mb, device)
        (loss / max(1, n)).backward()
        total += loss.detach()
    torch.nn.utils.clip_grad_norm_(side.params, 1.0)
    side.opt.step()
    side.opt.zero_grad(set_to_none=True)
    return total / max(1, n)


def graph_step(side: Side, b: dict, device, autocast) -> torch.Tensor:
    """fast_step through fast.graph.StepGraphs: each packed micro-batch's forward + backward is one CUDA graph
    replay (recorded the first time its bucketed shape is seen, i.e. in the warm-up steps)."""
    from tuneboard_trainer.templates import IGNORE_INDEX

    mbs = side.fast.pack([b])
    n = sum(int((mb["targets"] != IGNORE_INDEX).sum()) for mb in mbs)
    total = torch.zeros((), device=device)
    for mb in mbs:
        total += side.graphs.run(mb, 1.0 / max(1, n))
    torch.nn.utils.clip_grad_norm_(side.params, 1.0)
    side.opt.step()
    side.opt.zero_grad(set_to_none=False)  # the graphs accumulate into these .grad tensors
    return total / max(1, n)


# The FastPathOptions of every fast-path run (main() applies --fast-option to it).
FAST_OPTIONS = None


def plan_cap_bytes(runs: list, workload: str, args) -> Optional[int]:
    """The peak cap of a plan variant: --plan-cap-gib, else the lowest peak of this call's baseline runs of the
    workload (the baseline runs first); None when there is neither (CPU runs record no peak)."""
    if args.plan_cap_gib is not None:
        return int(args.plan_cap_gib * GIB)
    peaks = [r["peak_gib"] for r in runs if r.get("side") == "baseline" and r.get("workload") == workload
             and "error" not in r and r.get("peak_gib")]
    return int(min(peaks) * GIB) if peaks else None


def set_fast(side: Side, variant: Optional[str], max_tokens: int, cap_bytes: Optional[int] = None) -> None:
    """variant None / "ref": the reference path with gradient checkpointing;
    "plan[c][o][g][e][b]": the fast path with recompute planned from costs measured on the device
    (FastPath.apply_plan) so that the step's peak stays at `cap_bytes` (the baseline's peak), flags as below;
    "ck<K>[m<M>][c][o][g][e]": the fast path with K blocks recomputed (and the gate/up products of M more),
    c = regional compile, o = offload recompute
    inputs, b = the LoRA Functions as graph breaks in the compiled regions (default: traced into them), g = CUDA graphs of each micro-batch's forward + backward (fast/graph.py), e = input embedding in host
    memory (fast.HostEmbedding)."""
    from tuneboard_trainer.fast import FastPath, FastPathOptions, embed_on_device, embed_on_host
    from tuneboard_trainer.fast.graph import StepGraphs

    side.graphs, side.plan = None, None
    side.opt.zero_grad(set_to_none=True)
    dev = next(p for p in side.model.parameters() if p.requires_grad).device
    flags_part = variant[4:] if variant is not None and variant.startswith("plan") else (variant or "")[2:]
    if variant is not None and variant.startswith(("ck", "plan")) and "e" in flags_part:
        embed_on_host(side.model)  # e = input embedding in host memory (fast.HostEmbedding)
    else:
        embed_on_device(side.model, dev)

    if variant in (None, "ref", "nockpt", "nocudnn"):
        side.fast, side.step_fn = None, ours_step
        set_checkpointing(side.model, variant != "nockpt")
        return
    set_checkpointing(side.model, False)
    planned = re.fullmatch(r"plan([cgoeb]*)", variant)
    parsed = planned or re.fullmatch(r"ck(\d+)(?:m(\d+))?([cgoeb]*)", variant)
    if parsed is None:
        raise SystemExit(f"bad fast-path variant {variant!r}: ck<K>[m<M>][c][o][g][e][b] or plan[c][o][g][e][b]")
    if planned:  # recompute decided below, once the FastPath exists (its layouts are what gets measured)
        k, m, flags = 0, 0, planned[1]
    else:
        k, m, flags = int(parsed[1]), int(parsed[2] or 0), parsed[3]
    # b = the LoRA Functions as graph breaks in compiled regions (FUNCTION_MODE "break"); default traced
    options = dataclasses.replace(FAST_OPTIONS or FastPathOptions(), compile_functions="break" if "b" in flags else "trace")
    if getattr(side, "compiled_fast", None) is None and "c" in flags:
        side.compiled_fast = FastPath(side.model, max_tokens, ckpt_layers=k, mlp_recompute=m, compile=True,
                                      options=options)
    if "c" in flags:
        side.fast = side.compiled_fast  # one compiled instance: its compile cache is reused across runs
        side.fast.options = options
        side.fast.max_tokens = max_tokens
        side.fast.set_recompute(k, m)
        side.fast.offload = "o" in flags
    else:
        side.fast = FastPath(side.model, max_tokens, ckpt_layers=k, mlp_recompute=m, offload="o" in flags,
                             options=options)
    if planned:
        side.plan = plan_recompute_under_cap(side, dev, max_tokens, cap_bytes)
    side.step_fn = fast_step
    if "g" in flags:
        side.graphs = StepGraphs(side.fast, side.params, dev, torch.bfloat16)
        side.step_fn = graph_step


def plan_recompute_under_cap(side: Side, dev, max_tokens: int, cap_bytes: Optional[int]) -> dict:
    """Apply the measured recompute plan of side.fast under the peak cap (fast.memory.budget_under_cap);
    returns what was decided, for the run's record. Without a cap nothing is recomputed."""
    from tuneboard_trainer.fast.memory import budget_under_cap

    fp = side.fast
    if cap_bytes is None:
        fp.set_recompute(0, 0)
        return {"cap_gib": None, "note": "no cap (no baseline peak in this call): nothing recomputed"}
    free(dev)
    allocated = torch.cuda.memory_allocated(dev) if dev.type == "cuda" else 0
    trainable = sum(p.numel() * p.element_size() for p in side.params)
    # Gradients (set to None between runs) and, before the first step, AdamW's two moments per parameter.
    pending = trainable * (1 if side.opt is not None and side.opt.state else 3)
    budget = budget_under_cap(side.model, max_tokens, cap_bytes, allocated, pending, fp.loss_chunk)
    t = time.perf_counter()
    k, m = fp.apply_plan(budget)
    out = {"cap_gib": round(cap_bytes / GIB, 3), "budget_gib": round(budget / GIB, 3),
           "allocated_gib": round(allocated / GIB, 3), "plan_s": round(time.perf_counter() - t, 3),
           "ckpt_layers": k, "mlp_recompute": m, "keep_product": fp.keep_product}
    if fp.recompute_plan is not None:
        out["plan"] = dataclasses.asdict(fp.recompute_plan)
    if fp.recompute_costs is not None:
        out["costs"] = dataclasses.asdict(fp.recompute_costs)
    print(f"# plan under the cap: {json.dumps(out)}", flush=True)
    return out


def build_side(kind: str, cfg: dict, device, dtype) -> Side:
    t = time.perf_counter()
    if kind == "baseline":
        model, info = models.build_baseline(cfg, device, dtype)
        step = baseline_step
    else:
        model, info = models.build_ours(cfg, device, dtype, gradient_checkpointing=False)
        step = ours_step
    params = [p for p in model.parameters() if p.requires_grad]
    sync(device)
    info = {**info, "build_s": round(time.perf_counter() - t, 2), "trainable_params": sum(p.numel() for p in params),
            "trainable_dtypes": sorted({str(p.dtype) for p in params}),
            "resident_gib": round(torch.cuda.memory_allocated(device) / GIB, 3) if device.type == "cuda" else None}
    side = Side(kind, model, step, params, info)
    side.make_optimizer(kind)
    return side


def set_checkpointing(model, on: bool) -> None:
    """Ours: train.enable_gradient_checkpointing wraps block.forward as an instance attribute; drop it to turn off."""
    from tuneboard_trainer.train import enable_gradient_checkpointing

    for blk in model.model.layers:
        blk.__dict__.pop("forward", None)
    if on:
        enable_gradient_checkpointing(model)


def timed_steps(side: Side, timed: list[dict], device, autocast, sync_each_step: bool) -> tuple[list[float], list[float]]:
    """Seconds per step and the steps' losses.

    By default the steps run back to back as a training loop runs them (no host-device sync in between: the
    host prepares step i + 1 while the GPU runs step i), timed by CUDA events recorded between steps and read
    after one sync at the end; the losses are read then too. sync_each_step (synced timing) waits for the
    GPU after every step, so each step also pays the host's preparation of the next one with an idle GPU.
    """
    if device.type != "cuda" or sync_each_step:
        times, losses = [], []
        for b in timed:
            t = time.perf_counter()
            loss = side.step_fn(side, b, device, autocast)
            sync(device)
            times.append(time.perf_counter() - t)
            losses.append(float(loss))
        return times, losses
    events = [torch.cuda.Event(enable_timing=True) for _ in range(len(timed) + 1)]
    loss_t = []
    events[0].record()
    for i, b in enumerate(timed):
        loss_t.append(side.step_fn(side, b, device, autocast))
        events[i + 1].record()
    sync(device)
    times = [events[i].elapsed_time(events[i + 1]) / 1000 for i in range(len(timed))]
    return times, [float(x) for x in loss_t]


def run(side: Side, warm: list[dict], timed: list[dict], cfg: dict, device, autocast, matmul_tflops: float,
        sync_each_step: bool = False) -> dict:
    free(device)
    res = {"side": side.name}
    try:
        first_loss = None
        for b in warm:
            loss = side.step_fn(side, b, device, autocast)
            if first_loss is None:
                first_loss = float(loss)
        sync(device)
        tokens = sum(int(b["attention_mask"].sum()) for b in timed)
        flops = sum(useful_flops(b, cfg) for b in timed)
        with ClockSampler() as clock:  # the SM clock while the measured steps run (none on the CPU)
            times, losses = timed_steps(side, timed, device, autocast, sync_each_step)
        res.update(clock.summary())
        total = sum(times)
        st = sorted(times)
        useful = flops / total / 1e12
        res.update({
            "steps": len(timed), "warmup_steps": len(warm), "tokens": tokens, "time_s": round(total, 4),
            "tokens_per_s": round(tokens / total, 1),
            "step_ms_median": round(1000 * st[len(st) // 2], 2), "step_ms_mean": round(1000 * total / len(times), 2),
            "step_ms_min": round(1000 * st[0], 2), "step_ms_max": round(1000 * st[-1], 2),
            "peak_gib": round(torch.cuda.max_memory_allocated(device) / GIB, 3) if device.type == "cuda" else None,
            "first_loss": round(first_loss, 5) if first_loss is not None else round(losses[0], 5),
            "last_loss": round(losses[-1], 5),
            "useful_tflops": round(useful, 2), "useful_util": round(useful / matmul_tflops, 4),
            "step_ms": [round(1000 * x, 1) for x in times], "sync_each_step": sync_each_step or device.type != "cuda",
        })
    except torch.cuda.OutOfMemoryError as e:  # recorded, not fatal: the other runs go on
        res["error"] = f"OOM: {str(e).splitlines()[0]}"
        res["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / GIB, 3)
    except Exception as e:  # noqa: BLE001 -- one broken run must not lose the others' numbers
        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-3000:]
    finally:
        if side.opt is not None:
            side.opt.zero_grad(set_to_none=True)
        free(device)
    return res


def gpu_busy(side: Side, timed: list[dict], device, autocast) -> dict:
    """The device-busy time of the timed steps (bench.gpu_busy: the union of kernel intervals from
    torch.profiler) and the tokens/s it implies: the side's speed on an infinitely fast host CPU."""
    free(device)
    try:
        b = busy_time(lambda: [side.step_fn(side, x, device, autocast) for x in timed], device)
        tokens = sum(int(x["attention_mask"].sum()) for x in timed)
        return {**b, "tokens": tokens, "gpu_busy_tokens_per_s": round(tokens / b["busy_s"], 1) if b["busy_s"] else None}
    except Exception as e:  # noqa: BLE001 -- the wall-clock figures stand without it
        return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
    finally:
        if side.opt is not None:
            side.opt.zero_grad(set_to_none=True)
        free(device)


def measure(side: Side, kind: str, w: str, variant, d: dict, cfg, device, autocast, meta, args, runs: list,
            busy: dict) -> dict:
    """One workload's timed run(s) of a side: the baseline --baseline-best-of times (all but the last appended
    to `runs` here), then its GPU-busy pass into `busy`; returns the last run for the caller to record."""
    repeats = max(1, args.baseline_best_of) if kind == "baseline" else 1
    for repeat in range(repeats):
        t_run = time.perf_counter()
        r = run(side, d["warm"], d["timed"], cfg, device, autocast, meta["matmul_tflops"], args.sync_each_step)
        r.update({"workload": "variable" if w == "variable_packed" else w, "variant": variant,
                  "wall_s": round(time.perf_counter() - t_run, 1)})
        if repeats > 1:
            r["repeat"] = repeat + 1
            if repeat < repeats - 1:
                runs.append(r)
                print_table([r])
    if kind == "baseline" and not args.no_gpu_busy:
        busy[w] = gpu_busy(side, d["timed"], device, autocast)
        print(f"# baseline GPU-busy on {w}: {json.dumps({k: v for k, v in busy[w].items() if k != 'traceback'})}",
              flush=True)
    return r


# ------------------------------------------------------------------------------------------ long context

def long_context(side: Side, kind: str, cfg: dict, device, autocast, args, base_max: Optional[int]) -> dict:
    """Longest batch-1 sequence one training step (forward, backward, AdamW) fits, by OOM probing.

    baseline: doubling from --long-start until a step runs out of memory, then bisection to --long-res.
    ours: each probe is long and device time is short, so ours only tries --long-ours multiples of the
    baseline's maximum (ascending, stopping at the first that does not fit); `max_fit` is then a lower bound.
    """
    g = torch.Generator().manual_seed(7)
    probes = []

    def fits(L: int) -> bool:
        b = workloads.collate([workloads.make_example(L, cfg["vocab_size"], g)], workloads.PAD_ID)
        if side.fast is not None:
            side.fast.max_tokens = L
        free(device)
        t = time.perf_counter()
        try:
            side.step_fn(side, b, device, autocast)
            sync(device)
            ok = True
        except torch.cuda.OutOfMemoryError:
            ok = False
        finally:
            side.opt.zero_grad(set_to_none=True)
        probes.append({"len": L, "fits": ok, "peak_gib": round(torch.cuda.max_memory_allocated(device) / GIB, 2),
                       "s": round(time.perf_counter() - t, 1)})
        print(f"# long {kind} {probes[-1]}", flush=True)
        free(device)
        return ok

    best, peak = None, None
    if kind == "baseline" or base_max is None:
        lo, hi, L = None, None, args.long_start
        while hi is None:
            if fits(L):
                lo, L = L, 2 * L
            else:
                hi = L
            if L > 4 * 1024 * 1024:
                break
        if lo is not None and hi is not None:
            while hi - lo > args.long_res:
                mid = (lo + hi) // 2 // 1024 * 1024
                if fits(mid):
                    lo = mid
                else:
                    hi = mid
        best = lo
    else:
        for m in [float(x) for x in args.long_ours.split(",") if x]:
            L = int(m * base_max)
            if not fits(L):
                break
            best = L
    peak = next((p["peak_gib"] for p in probes if p["len"] == best and p["fits"]), None)
    return {"max_fit": best, "max_fit_peak_gib": peak, "probes": probes,
            "variant": getattr(side.fast, "ckpt_layers", None) and args.long_ours_variant if side.fast else None}


# ------------------------------------------------------------------------------------------ profiler

def categorize(name: str) -> str:
    n = name.lower()
    if any(k in n for k in ("flash", "fmha", "attention", "efficient_attention", "cudnn_sdpa")):
        return "attention"
    if any(k in n for k in ("gemm", "nvjet", "cutlass", "xmma", "sm90_", "cublas", "matmul", "splitk")):
        return "matmul"
    if any(k in n for k in ("softmax", "logsumexp", "nll", "cross_entropy")):
        return "softmax/CE"
    if "reduce" in n:
        return "reductions"
    if any(k in n for k in ("index", "scatter", "gather", "nonzero", "masked")):
        return "index/gather"
    if any(k in n for k in ("memcpy", "memset", "copy", "cat", "fill")):
        return "copy/fill"
    if any(k in n for k in ("elementwise", "vectorized", "unrolled", "pointwise", "foreach", "mul", "add", "silu")):
        return "elementwise"
    return "other"


def profile_steps(side: Side, batches: list[dict], device, autocast) -> dict:
    from torch.profiler import ProfilerActivity, profile

    side.step_fn(side, batches[0], device, autocast)
    sync(device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        t = time.perf_counter()
        for b in batches[1:]:
            side.step_fn(side, b, device, autocast)
        sync(device)
        wall = time.perf_counter() - t
    ka = prof.key_averages()
    kernels = []
    for e in ka:
        dt = getattr(e, "device_type", None)
        if dt is None or "CUDA" not in str(dt):
            continue
        us = getattr(e, "self_device_time_total", None)
        if us is None:
            us = e.self_cuda_time_total
        if us > 0:
            kernels.append((e.key, us, e.count))
    kernels.sort(key=lambda k: -k[1])
    total_us = sum(k[1] for k in kernels)
    cats: dict[str, float] = {}
    for name, us, _ in kernels:
        cats[categorize(name)] = cats.get(categorize(name), 0.0) + us
    table = None
    for key in ("self_device_time_total", "self_cuda_time_total", "self_cpu_time_total"):
        try:
            table = ka.table(sort_by=key, row_limit=30, max_name_column_width=90)
            break
        except Exception:  # noqa: BLE001 -- sort keys differ between torch versions
            continue
    n = len(batches) - 1
    return {
        "steps": n, "wall_ms_per_step": round(1000 * wall / n, 2),
        "kernel_ms_per_step": round(total_us / 1000 / n, 2),
        "gpu_busy_share": round(total_us / 1e6 / wall, 4) if wall else None,
        "by_category_ms_per_step": {k: round(v / 1000 / n, 2) for k, v in sorted(cats.items(), key=lambda x: -x[1])},
        "top_kernels": [{"name": k[0][:160], "ms_per_step": round(k[1] / 1000 / n, 3), "calls_per_step": k[2] / n,
                         "category": categorize(k[0])} for k in kernels[:80]],
        "table": table,
    }


# ------------------------------------------------------------------------------------------ main

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.train_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="fixed,variable", help="comma list of: fixed, variable, long, dpo")
    p.add_argument("--dpo-variants", default=None, help="dpo: fast-path runs of ours (bench.dpo_bench's --variants)")
    p.add_argument("--sides", default="baseline,ours", help="comma list of: baseline, ours")
    p.add_argument("--variants", default="", help="extra runs of ours: ref (reference path), packed (variable, "
                   "reference path on packed rows), nockpt / nocudnn (reference path variants)")
    p.add_argument("--fixed-fast", default="ck32,ck16,ck8,ck0",
                   help="fast-path runs of ours on fixed: ck<K> = K blocks recomputed, suffix c = compiled; plan[cge] = "
                        "recompute planned from measured costs under the baseline's peak; the record "
                        "is the fastest run whose peak memory is <= the baseline's")
    p.add_argument("--variable-fast", default="ck0", help="fast-path runs of ours on variable (record: the fastest)")
    p.add_argument("--plan-cap-gib", type=float, default=None,
                   help="plan variants: the peak cap in GiB when no baseline ran in this call (default: the "
                        "lowest peak of this call's baseline runs of the workload)")
    p.add_argument("--long-start", type=int, default=16384, help="long: first length tried (then doubled)")
    p.add_argument("--long-res", type=int, default=4096, help="long: binary-search resolution (tokens)")
    p.add_argument("--long-ours", default="4", help="long: ours tries these multiples of the baseline's maximum")
    p.add_argument("--long-ours-variant", default="ck32o", help="long: ours' fast-path variant")
    p.add_argument("--long-base-max", type=int, default=None,
                   help="long: the baseline's maximum from an earlier run (ours alone then tries only its multiples)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps for `fixed` (variable: 2x as many batches); default 20, --quick 3")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps per run; default 3, --quick 1")
    p.add_argument("--quick", action="store_true", help="tiny model and sequences (CPU smoke run)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--profile", action="store_true", help="torch.profiler summary of 3 steps of ours on `fixed`")
    p.add_argument("--profile-variant", default="ck0", help="which fixed runs of ours --profile profiles (comma list)")
    p.add_argument("--json-out", default=None, help="write all results (runs, stats, profile) as JSON here")
    p.add_argument("--records-out", default=None, help="write docs/benchmarks.json-style records here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sync-each-step", action="store_true",
                   help="wait for the GPU after every timed step (synced timing; default: back to back, CUDA events)")
    p.add_argument("--pad-multiple", type=int, default=1, help="pad padded batches to a multiple of this (LLaMA-Factory: 8)")
    p.add_argument("--shape-warmup", action="store_true",
                   help="variable: one untimed pass over the timed batches before timing (steady state)")
    p.add_argument("--baseline-best-of", type=int, default=3,
                   help="timed runs of the baseline per workload in this process; its record is the fastest")
    p.add_argument("--no-gpu-busy", action="store_true",
                   help="skip the profiled pass that measures the baseline's GPU-busy time per workload")
    p.add_argument("--fast-option", action="append", default=[], metavar="NAME=VALUE",
                   help="a FastPathOptions field for every fast-path run (repeatable), e.g. dense_attention=0, "
                        "augmented_weights=0, keep_swiglu=1; the variant's b flag sets compile_functions")
    return p.parse_args(argv)


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def print_table(runs: list[dict]) -> None:
    head = f"{'workload':<18}{'side':<16}{'tokens/s':>11}{'step ms':>10}{'peak GiB':>10}{'useful TF/s':>13}{'util':>7}{'loss@1':>9}"
    print(head)
    print("-" * len(head))
    for r in runs:
        label = r["side"] + (f"+{r['variant']}" if r.get("variant") else "")
        if "error" in r:
            print(f"{r['workload']:<18}{label:<16}  ERROR {r['error'][:90]}")
            continue
        print(f"{r['workload']:<18}{label:<16}{r['tokens_per_s']:>11.1f}{r['step_ms_median']:>10.1f}"
              f"{fmt(r['peak_gib'], '.2f'):>10}{r['useful_tflops']:>13.1f}{100 * r['useful_util']:>6.1f}%"
              f"{r['first_loss']:>9.4f}")


def bench_meta(args, device, cfg: dict, dtype, quick: bool) -> dict:
    """The run's facts (card, versions, shape, matmul TFLOP/s), printed as one line and stored with the results."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    meta = {"args": vars(args),
        "date": DATE, "run_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "card": card_name(device), "device": str(device), "torch": torch.__version__,
        "python": platform.python_version(), "shape": "tiny (--quick)" if quick else "Llama-3.1-8B",
        "config": cfg, "dtype": str(dtype), "matmul_params": models.matmul_params(cfg),
        "lora_params": models.lora_params(cfg), **host_facts(),
    }
    for mod in ("transformers", "peft", "triton"):
        try:
            meta[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            meta[mod] = None
    mm_n = 512 if quick else 8192
    meta["matmul_tflops"] = round(measure_matmul(device, dtype, mm_n), 1 if device.type == "cuda" else 4)
    meta["matmul_shape"] = f"{mm_n}x{mm_n}x{mm_n} {str(dtype).replace('torch.', '')}"
    print(f"# {meta['card']} | torch {meta['torch']} | transformers {meta['transformers']} | peft {meta['peft']}"
          f" | {meta['shape']} | matmul {meta['matmul_shape']}: {meta['matmul_tflops']} TFLOP/s", flush=True)

    return meta


def workload_data(args, cfg: dict, wl_names, variants, warmup: int, steps: int, seq: int, cutoff: int,
                  var_median: int) -> tuple[dict, dict]:
    """(batches per workload: warm-up / timed / extra, statistics per workload); identical for both sides."""
    vocab = cfg["vocab_size"]
    data = {}
    stats = {}
    if "fixed" in wl_names:
        fb = workloads.fixed_batches(warmup + steps + (4 if args.profile else 0), seq, vocab, args.seed)
        data["fixed"] = {"warm": fb[:warmup], "timed": fb[warmup : warmup + steps], "extra": fb[warmup + steps :]}
        stats["fixed"] = {"batch": 2, "seq": seq, **workloads.batch_stats(data["fixed"]["timed"])}
    if "variable" in wl_names:
        warm_ex = workloads.variable_examples(2 * warmup, cutoff, vocab, args.seed + 1, median=var_median)
        timed_ex = workloads.variable_examples(4 * steps, cutoff, vocab, args.seed + 2, median=var_median)
        pm = args.pad_multiple
        data["variable"] = {"warm": workloads.padded_batches(warm_ex, pad_multiple=pm),
                            "timed": workloads.padded_batches(timed_ex, pad_multiple=pm)}
        if args.shape_warmup:
            data["variable"]["warm"] = data["variable"]["warm"] + data["variable"]["timed"]
        stats["variable"] = {
            "distribution": f"lognormal(median {var_median}, sigma {workloads.VAR_SIGMA}) rounded, clipped to "
                            f"[{workloads.VAR_MIN}, {cutoff}]; batch 2, per-batch right padding",
            "prompt_fraction": workloads.PROMPT_FRACTION,
            "lengths": workloads.length_stats(timed_ex), **workloads.batch_stats(data["variable"]["timed"])}
        if "packed" in variants:
            data["variable_packed"] = {"warm": workloads.packed_batches(warm_ex, cutoff),
                                       "timed": workloads.packed_batches(timed_ex, cutoff)}
            if args.shape_warmup:
                data["variable_packed"]["warm"] += data["variable_packed"]["timed"]
            stats["variable_packed"] = {"packing": f"data.pack_examples into rows of <= {cutoff}, batch 2 rows",
                                        **workloads.batch_stats(data["variable_packed"]["timed"])}
    for k, v in stats.items():
        print(f"# workload {k}: {json.dumps(v)}", flush=True)

    return data, stats


def summarize(runs: list, long_results: dict, wl_names, seq: int, meta: dict, busy: Optional[dict] = None) -> list[dict]:
    """docs/benchmarks.json-style records: per workload, the fastest fast-path run of ours against the best of the
    baseline's runs in this process (`baseline_best_of`), and against the baseline's GPU-busy bound."""
    records = []
    busy = busy or {}
    ok = lambda r: r is not None and "error" not in r  # noqa: E731
    for w in [w for w in wl_names if w != "long"]:
        base_runs = [r for r in runs if r["workload"] == w and r["side"] == "baseline"]
        base = max((r for r in base_runs if ok(r)), key=lambda r: r["tokens_per_s"], default=None) or next(
            iter(base_runs), None)
        fast_runs = [r for r in runs if r["workload"] == w and r["side"] == "ours" and ok(r)
                     and (r.get("variant") or "").startswith(("ck", "plan"))]
        if w == "fixed" and ok(base) and base["peak_gib"] is not None:  # no more memory than the baseline
            fast_runs = [r for r in fast_runs if r["peak_gib"] <= base["peak_gib"]]
        ours = max(fast_runs, key=lambda r: r["tokens_per_s"], default=None)
        o = ours["tokens_per_s"] if ok(ours) else None
        b = base["tokens_per_s"] if ok(base) else None
        rec = {
            "name": f"train.fixed_2x{seq}" if w == "fixed" else "train.variable",
            "ours": o, "baseline": b, "unit": "tokens/s",
            "ratio": round(o / b, 3) if o and b else None,
            "ours_peak_gib": ours.get("peak_gib") if ours else None,
            "baseline_peak_gib": base.get("peak_gib") if base else None,
            "card": meta["card"], "date": DATE,
            "ours_variant": ours.get("variant") if ours else None,
        }
        if w == "fixed" and ours:
            rec["ours_useful_util"], rec["baseline_useful_util"] = ours["useful_util"], base and base.get("useful_util")
        bb = busy.get(w) or {}
        bound = bb.get("gpu_busy_tokens_per_s")
        rec.update({
            "baseline_best_of": len([r for r in base_runs if ok(r)]),
            "baseline_runs_tokens_per_s": [r.get("tokens_per_s") for r in base_runs],
            "baseline_gpu_busy_s": bb.get("busy_s"),
            "baseline_gpu_busy_tokens_per_s": bound,
            "ratio_gpu_busy": round(o / bound, 3) if o and bound else None,
            "host_cpu": meta.get("host_cpu"),
            "gpu_clock_mhz": ours.get("gpu_clock_mhz") if ours else None,
            "baseline_gpu_clock_mhz": base.get("gpu_clock_mhz") if base else None,
        })
        records.append(rec)
    if "long" in wl_names:
        b = long_results.get("baseline", {}).get("max_fit")
        o = long_results.get("ours", {}).get("max_fit")
        records.append({"name": "train.long_context", "ours": o, "baseline": b, "unit": "tokens (batch 1)",
                        "ratio": round(o / b, 3) if o and b else None,
                        "ours_peak_gib": long_results.get("ours", {}).get("max_fit_peak_gib"),
                        "baseline_peak_gib": long_results.get("baseline", {}).get("max_fit_peak_gib"),
                        "card": meta["card"], "date": DATE})
    return records


def main(argv=None) -> int:
    global FAST_OPTIONS
    args = parse_args(argv)
    from tuneboard_trainer.fast import FastPathOptions

    FAST_OPTIONS = FastPathOptions().with_overrides(args.fast_option)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available; use --device cpu (with --quick)", file=sys.stderr)
        return 2
    quick = args.quick
    cfg = models.TINY if quick else models.LLAMA31_8B
    steps = args.steps or (3 if quick else 20)
    warmup = args.warmup if args.warmup is not None else (1 if quick else 3)
    seq, cutoff = (64, 128) if quick else (1024, 2048)
    var_median = 40 if quick else workloads.VAR_MEDIAN
    # bf16 weights + bf16 autocast on the GPU; fp32 on the CPU (our trainer's CPU fallback, and HF's sdpa/bf16
    # CPU paths are not what we measure).
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    autocast = make_autocast(device, dtype)
    wl_names = [w for w in args.workloads.split(",") if w]
    sides = [s for s in args.sides.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    for w in wl_names:
        if w not in ("fixed", "variable", "long", "dpo"):
            raise SystemExit(f"unknown workload {w!r}")
    dpo = "dpo" in wl_names  # bench.dpo_bench's workload, run after the others
    wl_names = [w for w in wl_names if w != "dpo"]

    meta = bench_meta(args, device, cfg, dtype, quick)
    data, stats = workload_data(args, cfg, wl_names, variants, warmup, steps, seq, cutoff, var_median)
    runs, sides_info, profile, long_results, busy = [], {}, None, {}, {}
    for kind in sides if wl_names else []:
        free(device)
        try:
            side = build_side(kind, cfg, device, dtype)
        except Exception as e:  # noqa: BLE001
            runs.append({"side": kind, "workload": "*", "error": f"build: {type(e).__name__}: {e}",
                         "traceback": traceback.format_exc()[-3000:]})
            print(runs[-1]["traceback"], file=sys.stderr)
            continue
        sides_info[kind] = side.info
        print(f"# built {kind}: {json.dumps(side.info)}", flush=True)
        plan = [(w, None) for w in wl_names if w != "long"]
        if kind == "ours":
            fixed_fast = [v for v in args.fixed_fast.split(",") if v]
            var_fast = [v for v in args.variable_fast.split(",") if v]
            plan = [("fixed", v) for v in fixed_fast if "fixed" in wl_names]
            plan += [("variable", v) for v in var_fast if "variable" in wl_names]
            if "ref" in variants:
                plan += [(w, "ref") for w in wl_names if w != "long"]
            if "packed" in variants and "variable" in wl_names:
                plan.append(("variable_packed", "packed"))
            if "nockpt" in variants:
                plan += [(w, "nockpt") for w in wl_names if w != "long"]
            if "nocudnn" in variants:
                plan += [(w, "nocudnn") for w in wl_names if w != "long"]
        for w, variant in plan:
            if kind == "ours":
                set_fast(side, variant, 2 * (seq if w == "fixed" else cutoff), plan_cap_bytes(runs, w, args))
            d = data[w]
            if device.type == "cuda":
                torch.backends.cuda.enable_cudnn_sdp(variant != "nocudnn")
            r = measure(side, kind, w, variant, d, cfg, device, autocast, meta, args, runs, busy)
            if side.fast is not None:
                r.update({"ckpt_layers": side.fast.ckpt_layers, "mlp_recompute": side.fast.mlp_recompute,
                          "compiled": side.fast.compiled,
                          "max_tokens": side.fast.max_tokens})
            if side.graphs is not None:
                r.update({"graphs_recorded": side.graphs.captures, "graphs_disabled": side.graphs.disabled})
            if getattr(side, "plan", None):
                r["recompute_plan"] = side.plan
            runs.append(r)
            print_table([r])
            sys.stdout.flush()
            if args.json_out:  # partial results survive a run that is killed at its time limit
                with open(args.json_out, "w") as f:
                    json.dump({"meta": meta, "workloads": stats, "sides": sides_info, "runs": runs, "gpu_busy": busy,
                               "partial": True}, f)
            if (kind == "ours" and w == "fixed" and args.profile
                    and variant in args.profile_variant.split(",") and variant not in (profile or {})):
                profile = profile or {}
                try:
                    profile[variant] = profile_steps(side, d["extra"], device, autocast)
                    print(f"# profile of ours {variant} on fixed: "
                          f"{json.dumps({k: v for k, v in profile[variant].items() if k not in ('table', 'top_kernels')})}")
                except Exception as e:  # noqa: BLE001
                    profile[variant] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
                free(device)
        if "long" in wl_names and device.type == "cuda":
            if kind == "ours":
                set_fast(side, args.long_ours_variant, 1)
            base_max = long_results.get("baseline", {}).get("max_fit") or args.long_base_max
            try:
                long_results[kind] = long_context(side, kind, cfg, device, autocast, args, base_max)
            except Exception as e:  # noqa: BLE001
                long_results[kind] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
            print(f"# long {kind}: {json.dumps(long_results[kind])}", flush=True)
        del side
        free(device)

    records = summarize(runs, long_results, wl_names, seq, meta, busy)
    if dpo:
        from . import dpo_bench

        dpo_result = dpo_bench.run_workload(args, device, meta)
        runs, busy = runs + dpo_result["runs"], {**busy, **dpo_result["gpu_busy"]}
        records.extend(dpo_result["records"])
    print()
    print_table(runs)
    for rec in records:
        print(f"# record {json.dumps(rec)}")
    if args.records_out:
        with open(args.records_out, "w") as f:
            json.dump(records, f, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"meta": meta, "workloads": stats, "sides": sides_info, "runs": runs, "records": records,
                       "gpu_busy": busy, "profile": profile, "long": long_results}, f, indent=2)
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
