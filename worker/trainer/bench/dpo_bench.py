"""DPO throughput: LLaMA-Factory's DPO step vs ours on the fast path, side by side in one process on one GPU.

    PYTHONPATH=worker/trainer python3 -m bench.dpo_bench --json-out dpo.json --records-out dpo-records.json
    PYTHONPATH=worker/trainer .venv/bin/python -m bench.dpo_bench --quick --device cpu   # smoke run

Workload: DPO sigmoid (beta 0.1), LoRA r8 / alpha 16 / dropout 0 on q,k,v,o,gate,up,down, Llama-3.1-8B shape,
micro-batches of 2 pairs whose chosen and rejected sequences are 512 tokens each (a 128-token prompt shared by
both, 384-token answers): 2,048 tokens a step, all counted (chosen + rejected). Same seeded random weights and
batches on both sides (train_bench's models and helpers).

  baseline  LLaMA-Factory's CustomDPOTrainer step: transformers LlamaForCausalLM (sdpa) + peft, gradient
            checkpointing, the padded batch of chosen + rejected rows concatenated, full fp32 logits and
            log_softmax (get_batch_logps), the reference pass with the adapter disabled under no_grad
            (peft's disable_adapter), TRL's sigmoid loss, mean over pairs.
  ours      stages.PreferenceStep on the fast path (fast/preference.py): the rows packed as separate documents,
            per-document log-probs from the chunked log-softmax, the reference pass with the adapters zeroed
            under no_grad; each pair's shared prompt computed once (fast/shared_prompt.py). Variants as train_bench's (ck<K>[m<M>][c][g][e]; g = the whole micro-batch, both
            passes, loss and backward, as one CUDA graph: fast/pair_graph.py; r = a step of a later epoch,
            every pair's reference log-probs cached before the timed steps, as a run keeps them after a pair's
            first step: reference_cache.py; u = every row computed on its own, prompt included);
            `ref` = our reference path with gradient checkpointing.
Both: AdamW, clip_grad_norm_(1.0), one micro-batch per optimizer step. The baseline runs --baseline-best-of times
and its GPU-busy time is measured (bench.gpu_busy); the record takes our fastest variant that peaks at no more
memory than the baseline, among the variants that run the reference pass every step as the baseline does; the r
variants make a second record (`_later_epochs`).

Useful FLOPs of a step: the policy's 4 N per token (forward + input-gradient backward) and the reference's 2 N,
attention likewise (forward 2 * hidden * L^2 / 2 per layer, backward twice that, the reference's forward once
more); recompute and LoRA matmuls are not counted. They count every row's tokens, so a shared prompt computed
once (an eighth of a pair here) shows as more useful FLOPs than the GPU ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
from typing import Optional

import torch
import torch.nn.functional as F

from . import models
from . import train_bench as tb
from .workloads import PAD_ID

BETA = 0.1
PROMPT, ANSWER = 128, 384  # chosen and rejected rows of 512 tokens
# Eager first (their numbers stand even if compiling is slow), then regional compile (about a minute at 8B; one
# compiled FastPath serves every c variant: train_bench.set_fast). ck0m17 recomputes the gate/up products of 17
# blocks: with CUDA graphs (g) at or below the baseline's memory (m16 was 8 MB over it on an H200); r: a later
# epoch's step.
DEFAULT_VARIANTS = "ck0m17e,ck0m17ce,ck0m17cge,ck0m17cger"


def pair_batches(n: int, vocab: int, seed: int, prompt: int, answer: int, pairs: int = 2) -> list[dict]:
    """n micro-batches of `pairs` random pairs (stage_data.pair_batch: chosen rows, then rejected rows)."""
    from tuneboard_trainer.stage_data import PairSample, pair_batch

    g = torch.Generator().manual_seed(seed)
    ids = lambda k: torch.randint(1, vocab, (k,), generator=g).tolist()  # noqa: E731
    return [pair_batch([PairSample(ids(prompt), ids(answer), ids(answer)) for _ in range(pairs)], PAD_ID)
            for _ in range(n)]


def dpo_flops(b: dict, cfg: dict) -> float:
    lens = tb.sample_lengths(b)
    attn = 8 * cfg["num_hidden_layers"] * cfg["hidden_size"] * sum(L * L / 2 for L in lens)
    return 6.0 * models.matmul_params(cfg) * sum(lens) + attn


# ------------------------------------------------------------------------------------------ steps

def _hf_logps(model, ids, mask, labels) -> torch.Tensor:
    """LLaMA-Factory's get_batch_logps on the model's full logits, cast to fp32."""
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.to(torch.float32)
    labels = labels[:, 1:].clone()
    logits = logits[:, :-1, :]
    keep = labels != -100
    labels[labels == -100] = 0
    per_token = torch.gather(logits.log_softmax(-1), dim=2, index=labels.unsqueeze(2)).squeeze(2)
    return (per_token * keep).sum(-1)


def baseline_dpo_step(side, b: dict, device, autocast) -> torch.Tensor:
    ids, mask, labels = (b[k].to(device) for k in ("input_ids", "attention_mask", "labels"))
    with torch.no_grad(), side.model.disable_adapter(), autocast:  # compute_reference_log_probs
        ref_c, ref_r = _hf_logps(side.model, ids, mask, labels).chunk(2)
    with autocast:
        c, r = _hf_logps(side.model, ids, mask, labels).chunk(2)
    loss = (-F.logsigmoid(BETA * ((c - r) - (ref_c - ref_r)))).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(side.params, 1.0)
    side.opt.step()
    side.opt.zero_grad(set_to_none=True)
    return loss.detach()


def ours_dpo_step(side, b: dict, device, autocast) -> torch.Tensor:
    """PreferenceStep as train.py runs it: on side.fast (None: the reference path)."""
    step = side.pref_step
    step.fast = side.fast
    with autocast:
        loss, _ = step(side.model, b, device)
    n = step.samples(b)
    (loss / n).backward()
    torch.nn.utils.clip_grad_norm_(side.params, 1.0)
    side.opt.step()
    side.opt.zero_grad(set_to_none=True)
    return loss.detach() / n


def ours_dpo_graph_step(side, b: dict, device, autocast) -> torch.Tensor:
    """ours_dpo_step with the micro-batch's reference pass, policy pass, loss and backward replayed as one CUDA
    graph (fast/pair_graph.py; recorded in the warm-up steps)."""
    n = side.pref_step.samples(b)
    loss, _ = side.pair_graphs.run(b, 1.0 / n)
    torch.nn.utils.clip_grad_norm_(side.params, 1.0)
    side.opt.step()
    side.opt.zero_grad(set_to_none=False)  # the graphs accumulate into these .grad tensors
    return loss / n


def variant_flags(variant: str) -> tuple[str, bool, bool, bool]:
    """(train_bench's variant, g: CUDA graphs of the whole micro-batch, r: reference log-probs cached, u: each row
    computed on its own, its prompt included: FastPathOptions.shared_prompt off) of ours."""
    if not variant.startswith("ck"):
        return variant, False, False, False
    head, tail = variant[:2], variant[2:]
    return (head + tail.replace("g", "").replace("r", "").replace("u", ""), "g" in tail, "r" in tail,
            "u" in tail)


def known_references(side, batches: list[dict], device, autocast) -> None:
    """A later epoch's state: every pair's reference log-probs in the step's ReferenceCache, computed here
    (untimed) by the side's own reference pass, as the run's first epoch would have."""
    from tuneboard_trainer.reference_cache import ReferenceCache

    step = side.pref_step
    step.fast = side.fast
    step.cache = ReferenceCache(sum(step.samples(b) for b in batches), device)
    start = 0
    for b in batches:
        n = step.samples(b)
        b["index"] = torch.arange(start, start + n)
        start += n
        with torch.no_grad(), autocast:
            step.reference_logps(side.model, b, device)


def set_variant(side, variant: str, max_tokens: int, batches: list[dict], device, autocast) -> None:
    """train_bench's fast-path variants; g = CUDA graphs of the whole dpo micro-batch (PairGraphs); r = a step of
    a later epoch, the pairs' reference log-probs cached (reference_cache.py); u = no shared prompts (each row
    computed on its own, as before fast/shared_prompt.py)."""
    from tuneboard_trainer.fast.pair_graph import PairGraphs

    base, graphs, cached, unshared = variant_flags(variant)
    tb.set_fast(side, None if variant == "ref" else base, max_tokens)
    if side.fast is not None:
        side.fast.options = dataclasses.replace(side.fast.options, shared_prompt=not unshared)
    side.step_fn, side.pair_graphs, side.pref_step.cache = ours_dpo_step, None, None
    if cached:
        known_references(side, batches, device, autocast)
    if graphs:
        side.pref_step.fast = side.fast
        dev = next(p for p in side.model.parameters() if p.requires_grad).device
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32  # the bench's autocast
        side.pair_graphs = PairGraphs(side.pref_step, side.fast, side.params, dev, dtype)
        side.step_fn = ours_dpo_graph_step


def profile_run(side, batches: list[dict], device, autocast) -> dict:
    """train_bench.profile_steps on a run's timed batches (wall vs kernel time per step, by category), or the
    error that stopped it: a failed profile must not lose the run's figures."""
    try:
        prof = tb.profile_steps(side, batches, device, autocast)
        prof["top_kernels"] = prof.get("top_kernels", [])[:15]
        return prof
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        if side.opt is not None:
            side.opt.zero_grad(set_to_none=True)
        tb.free(device)


# ------------------------------------------------------------------------------------------ records

def summarize(runs: list[dict], busy: dict, meta: dict, seq: int, cached: bool = False) -> dict:
    """The record of our fastest variant at no more memory than the baseline's best run: of the variants that
    run the reference pass every step (the baseline's step), or with cached=True of those that read it from
    the cache (a later epoch's step)."""
    ok = lambda r: r is not None and "error" not in r  # noqa: E731
    base_runs = [r for r in runs if r["side"] == "baseline"]
    base = max((r for r in base_runs if ok(r)), key=lambda r: r["tokens_per_s"], default=None)
    fast = [r for r in runs if r["side"] == "ours" and ok(r) and (r.get("variant") or "").startswith("ck")
            and variant_flags(r["variant"])[2] == cached]
    if ok(base) and base["peak_gib"] is not None:  # no more memory than the baseline
        fast = [r for r in fast if r["peak_gib"] <= base["peak_gib"]]
    ours = max(fast, key=lambda r: r["tokens_per_s"], default=None)
    o, b = (ours or {}).get("tokens_per_s"), (base or {}).get("tokens_per_s")
    bound = (busy.get("dpo") or {}).get("gpu_busy_tokens_per_s")
    return {
        "name": f"train.dpo_sigmoid_2x2x{seq}" + ("_later_epochs" if cached else ""), "ours": o, "baseline": b,
        "unit": "tokens/s",
        "ratio": round(o / b, 3) if o and b else None,
        "ours_peak_gib": (ours or {}).get("peak_gib"), "baseline_peak_gib": (base or {}).get("peak_gib"),
        "card": meta["card"], "date": tb.DATE, "ours_variant": (ours or {}).get("variant"),
        "ours_useful_util": (ours or {}).get("useful_util"), "baseline_useful_util": (base or {}).get("useful_util"),
        "first_loss": (ours or {}).get("first_loss"), "baseline_first_loss": (base or {}).get("first_loss"),
        "baseline_best_of": len([r for r in base_runs if ok(r)]),
        "baseline_runs_tokens_per_s": [r.get("tokens_per_s") for r in base_runs],
        "baseline_gpu_busy_tokens_per_s": bound, "ratio_gpu_busy": round(o / bound, 3) if o and bound else None,
        "host_cpu": meta.get("host_cpu"), "gpu_clock_mhz": (ours or {}).get("gpu_clock_mhz"),
        "baseline_gpu_clock_mhz": (base or {}).get("gpu_clock_mhz"),
        "workload": f"DPO sigmoid beta {BETA}, LoRA r8, 2 pairs of chosen + rejected {seq}-token rows per step"
                    + ("; ours in a later epoch (reference log-probs cached), the baseline recomputing them as "
                       "LLaMA-Factory does" if cached else ""),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sides", default="baseline,ours", help="comma list of: baseline, ours")
    p.add_argument("--variants", dest="dpo_variants", default=DEFAULT_VARIANTS,
                   help="runs of ours: fast-path variants ck<K>[m<M>][c][g][e] (train_bench's) and/or ref")
    p.add_argument("--steps", dest="dpo_steps", type=int, default=None,
                   help="timed steps per run; default 6, --quick 2")
    p.add_argument("--warmup", dest="dpo_warmup", type=int, default=None,
                   help="warm-up steps per run; default 2, --quick 1")
    p.add_argument("--quick", action="store_true", help="tiny model and sequences (CPU smoke run)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--baseline-best-of", type=int, default=3)
    p.add_argument("--no-gpu-busy", action="store_true")
    p.add_argument("--profile-ours", action="store_true",
                   help="also profile each run of ours: its GPU-busy share and kernel time by category (train_bench's)")
    p.add_argument("--sync-each-step", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", default=None)
    p.add_argument("--records-out", default=None)
    return p.parse_args(argv)


def run_workload(args, device, meta: dict) -> dict:
    """Both sides' runs of the DPO workload: {"runs", "gpu_busy", "sides", "records"}. args: dpo_bench's, or
    train_bench's (`--workloads dpo`: its --dpo-variants, default steps and warm-up)."""
    from tuneboard_trainer.stages import PreferenceStep

    cfg = models.TINY if args.quick else models.LLAMA31_8B
    variants = getattr(args, "dpo_variants", None) or DEFAULT_VARIANTS
    steps = args.dpo_steps if getattr(args, "dpo_steps", None) else (2 if args.quick else 6)
    warmup = args.dpo_warmup if getattr(args, "dpo_warmup", None) is not None else (1 if args.quick else 2)
    prompt, answer = (16, 48) if args.quick else (PROMPT, ANSWER)
    seq = prompt + answer
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    autocast = tb.make_autocast(device, dtype)
    batches = pair_batches(warmup + steps, cfg["vocab_size"], args.seed, prompt, answer)
    data = {"warm": batches[:warmup], "timed": batches[warmup:]}
    step_cfg = types.SimpleNamespace(stage="dpo", pref_loss="sigmoid", pref_beta=BETA, pref_ftx=0.0, simpo_gamma=0.5)
    runs, busy, sides_info = [], {}, {}
    for kind in [s for s in args.sides.split(",") if s]:
        tb.free(device)
        side = tb.build_side(kind, cfg, device, dtype)
        side.pref_step = PreferenceStep(step_cfg)
        sides_info[kind] = side.info
        print(f"# built {kind} (dpo): {json.dumps(side.info)}", flush=True)
        plan: list[Optional[str]] = [None] if kind == "baseline" else [v for v in variants.split(",") if v]
        for variant in plan:
            if kind == "baseline":
                side.step_fn = baseline_dpo_step
            else:
                set_variant(side, variant, 2 * 2 * seq, batches, device, autocast)
            r = tb.measure(side, kind, "dpo", variant, data, cfg, device, autocast, meta, args, runs, busy)
            if "time_s" in r:  # the useful FLOPs of a DPO step, not of an SFT one
                useful = sum(dpo_flops(b, cfg) for b in data["timed"]) / r["time_s"] / 1e12
                r.update({"useful_tflops": round(useful, 2), "useful_util": round(useful / meta["matmul_tflops"], 4)})
            if kind == "ours" and getattr(args, "profile_ours", False) and "error" not in r:
                r["profile"] = profile_run(side, data["timed"], device, autocast)
                print(f"# profile of ours {variant}: {json.dumps({k: v for k, v in r['profile'].items() if k != 'table'})}",
                      flush=True)
            if side.fast is not None:
                r.update({"ckpt_layers": side.fast.ckpt_layers, "mlp_recompute": side.fast.mlp_recompute,
                          "compiled": side.fast.compiled, "max_tokens": side.fast.max_tokens})
            runs.append(r)
            tb.print_table([r])
            if args.json_out:  # partial results survive a run killed at its time limit
                with open(args.json_out, "w") as f:
                    json.dump({"meta": meta, "sides": sides_info, "runs": runs, "gpu_busy": busy, "partial": True}, f)
        del side
        tb.free(device)
    records = [summarize(runs, busy, meta, seq)]
    if any(variant_flags(r.get("variant") or "")[2] for r in runs):
        records.append(summarize(runs, busy, meta, seq, cached=True))
    return {"runs": runs, "gpu_busy": busy, "sides": sides_info, "records": records}


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available; use --device cpu (with --quick)", file=sys.stderr)
        return 2
    cfg = models.TINY if args.quick else models.LLAMA31_8B
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    meta = tb.bench_meta(args, device, cfg, dtype, args.quick)
    result = run_workload(args, device, meta)
    runs, records = result["runs"], result["records"]
    print()
    tb.print_table(runs)
    for record in records:
        print(f"# record {json.dumps(record)}")
    if args.records_out:
        with open(args.records_out, "w") as f:
            json.dump(records, f, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"meta": meta, "sides": result["sides"], "runs": runs, "gpu_busy": result["gpu_busy"],
                       "records": records}, f, indent=2)
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
