"""MoE training throughput: a Qwen3-30B-A3B-shaped LoRA run, our fast path against transformers + peft.

    PYTHONPATH=worker/trainer python3 -m bench.moe_bench --json-out moe.json --records-out moe_records.json
    PYTHONPATH=worker/trainer .venv/bin/python -m bench.moe_bench --quick --device cpu   # smoke run

Shape (Qwen/Qwen3-30B-A3B's config.json): 48 layers, hidden 2048, 128 experts of which each token uses 8
(renormalised), expert width 768, 32 query / 4 key-value heads of 128, vocabulary 151,936; ~61 GB in bf16,
random weights made directly on the GPU (no checkpoint on disk). Both sides are built, measured and freed one
after the other in this process.

Sides (LLaMA-Factory's settings: bf16 weights + bf16 autocast, fp32 adapters, LoRA r8 / alpha 16 / dropout 0 on
every linear projection except the router, gradient checkpointing, batch 2 x 1024, AdamW, clip 1.0):
  baseline  transformers Qwen3MoeForCausalLM (sdpa) + peft: target_modules q/k/v/o, target_parameters the
            experts' stacked gate_up_proj / down_proj (peft's LoRA for transformers' 3-D expert weights, one
            rank-8 adapter per expert), gradient checkpointing (use_reentrant=False). Measured with each
            transformers experts implementation in --baseline-experts: `eager` loops over the experts in Python,
            `grouped_mm` (transformers' default where torch has it) runs them as grouped GEMMs.
  ours      tuneboard_trainer's MoETransformer + LoRA on all projections (each expert's gate/up/down), the fast
            path (packed micro-batch, varlen attention, experts as grouped GEMMs: fast/moe.py), every block
            recomputed in backward (gradient checkpointing), the input embedding in host memory.

Reported per side: tokens/s (best of --baseline-best-of runs for the baseline, train_bench's rules), the
baseline's GPU-busy tokens/s (bench.gpu_busy), peak GPU memory, first-step loss, useful TFLOP/s. Useful FLOPs of
a step count the *active* parameters: per token 4 x (attention projections + router + top-k experts' three
projections per layer + lm_head), plus causal attention 6 x layers x heads x head_dim x L^2 / 2 per sample.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import traceback
import types

import torch

from . import models, train_bench, workloads
from .host import host_facts

DATE = datetime.datetime.now(datetime.timezone.utc).date().isoformat()

# Qwen/Qwen3-30B-A3B's config.json, the fields that define the shape.
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "attention_bias": False,
    "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2048,
    "intermediate_size": 6144, "max_position_embeddings": 40960, "mlp_only_layers": [], "moe_intermediate_size": 768,
    "norm_topk_prob": True, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 48, "num_key_value_heads": 4, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
    "router_aux_loss_coef": 0.001, "tie_word_embeddings": False, "vocab_size": 151936, "decoder_sparse_step": 1,
}
# --quick: the same architecture, small enough for a CPU smoke run.
TINY = {**QWEN3_30B_A3B, "hidden_size": 64, "head_dim": 16, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 2, "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
        "intermediate_size": 96, "vocab_size": 1024, "bos_token_id": 1, "eos_token_id": 2}

EXPERT_PARAMS = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]
ATTENTION_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def active_params(cfg: dict) -> int:
    """Matmul parameters a token uses: attention projections, router, its top-k experts, lm_head."""
    h, hd, e = cfg["hidden_size"], cfg["head_dim"], cfg["num_experts"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    experts = cfg["num_experts_per_tok"] * 3 * h * cfg["moe_intermediate_size"]
    return cfg["num_hidden_layers"] * (2 * h * q + 2 * h * kv + h * e + experts) + h * cfg["vocab_size"]


def useful_flops(b: dict, cfg: dict) -> float:
    lens = train_bench.sample_lengths(b)
    width = cfg["num_attention_heads"] * cfg["head_dim"]
    attn = 6 * cfg["num_hidden_layers"] * width * sum(L * L / 2 for L in lens)
    return 4.0 * active_params(cfg) * sum(lens) + attn


def build_baseline(cfg: dict, device: torch.device, dtype: torch.dtype):
    """transformers' Qwen3MoeForCausalLM (sdpa) + peft LoRA r8 (attention projections and the experts' stacked
    weights; the router stays frozen), fp32 adapters, gradient checkpointing, use_cache off."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    hf_cfg = Qwen3MoeConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "model_type")})
    hf_cfg.use_cache = False
    hf_cfg._attn_implementation = "sdpa"
    with models.default_dtype(dtype), torch.device(device):
        model = Qwen3MoeForCausalLM(hf_cfg)
    models.seeded_init(model)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    lcfg = LoraConfig(r=models.LORA_R, lora_alpha=models.LORA_ALPHA, lora_dropout=models.LORA_DROPOUT,
                      target_modules=ATTENTION_TARGETS, target_parameters=EXPERT_PARAMS, task_type="CAUSAL_LM")
    with torch.device(device):
        model = get_peft_model(model, lcfg)
    for p in model.parameters():  # LLaMA-Factory upcasts trainable params to fp32
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    return model, {"attn_implementation": model.base_model.model.config._attn_implementation}


def build_ours(cfg: dict, device: torch.device, dtype: torch.dtype):
    """tuneboard_trainer's MoETransformer (model.build_model) with random weights on the device, LoRA on every
    projection (methods.prepare_model, fp32 adapters)."""
    from tuneboard_trainer.methods import LoraSettings, prepare_model
    from tuneboard_trainer.model import ModelConfig, build_model, rope_inv_freq

    mcfg = ModelConfig.from_hf(dict(cfg))
    with models.default_dtype(dtype), torch.device(device):
        model = build_model(mcfg)
    model.inv_freq = rope_inv_freq(mcfg).to(device)
    models.seeded_init(model)
    with torch.device(device):
        prepare_model(model, "lora", lora=LoraSettings(targets="all", r=models.LORA_R, alpha=models.LORA_ALPHA,
                                                       dropout=models.LORA_DROPOUT))
    model.train()
    return model, {}


def make_side(kind: str, cfg: dict, device, dtype) -> train_bench.Side:
    t = time.perf_counter()
    build = build_baseline if kind == "baseline" else build_ours
    model, info = build(cfg, device, dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    train_bench.sync(device)
    info = {**info, "build_s": round(time.perf_counter() - t, 2), "trainable_params": sum(p.numel() for p in params),
            "resident_gib": round(torch.cuda.memory_allocated(device) / train_bench.GIB, 3)
            if device.type == "cuda" else None}
    side = train_bench.Side(kind, model, train_bench.baseline_step if kind == "baseline" else train_bench.ours_step,
                            params, info)
    side.make_optimizer(kind)
    return side


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="tiny shape (CPU smoke run)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run (default 3; quick 2)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seq", type=int, default=None, help="tokens per sample (default 1024; quick 64)")
    # ours first: a run stopped at its time limit keeps ours and the eager baseline (partial records in --json-out)
    p.add_argument("--sides", default="ours,baseline")
    p.add_argument("--baseline-experts", default="eager,grouped_mm",
                   help="transformers experts implementations the baseline runs with (comma-separated)")
    p.add_argument("--baseline-best-of", type=int, default=3)
    p.add_argument("--ours-variant", default=None,
                   help="train_bench.set_fast variant of ours (default ck<layers>e: every block recomputed, "
                        "embedding in host memory)")
    p.add_argument("--no-gpu-busy", action="store_true")
    p.add_argument("--gpu-busy-steps", type=int, default=1, help="steps of the baseline's GPU-busy pass")
    p.add_argument("--json-out")
    p.add_argument("--records-out")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Runs the benchmark; train_bench.useful_flops, which it sets for its runs, is restored afterwards (tests run
    several benchmarks in one process)."""
    saved = train_bench.useful_flops
    try:
        return _main(argv)
    finally:
        train_bench.useful_flops = saved


def _main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available; use --device cpu (with --quick)", file=sys.stderr)
        return 2
    cfg = TINY if args.quick else QWEN3_30B_A3B
    steps = args.steps or (2 if args.quick else 3)
    seq = args.seq or (64 if args.quick else 1024)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    autocast = train_bench.make_autocast(device, dtype)
    batches = workloads.fixed_batches(args.warmup + steps, seq, cfg["vocab_size"], seed=11)
    data = {"warm": batches[: args.warmup], "timed": batches[args.warmup :]}
    matmul = train_bench.measure_matmul(device, dtype, 512 if args.quick else 8192)
    meta = {"card": train_bench.card_name(device), "torch": torch.__version__, "date": DATE, "shape": "Qwen3-30B-A3B"
            if not args.quick else "tiny Qwen3-MoE", "batch": f"2 x {seq}", "steps": steps, "warmup": args.warmup,
            "matmul_tflops": matmul, "active_params": active_params(cfg), **host_facts()}
    # GPU-busy passes run here, over --gpu-busy-steps steps: the eager baseline launches ~250k kernels a step,
    # and reading a profile of many steps back costs minutes.
    run_args = types.SimpleNamespace(baseline_best_of=args.baseline_best_of, sync_each_step=False, no_gpu_busy=True)
    # train_bench.run's useful FLOPs are a dense model's; this module's count the active parameters.
    train_bench.useful_flops = useful_flops
    runs, busy, infos = [], {}, {}
    for kind in [s for s in args.sides.split(",") if s]:
        train_bench.free(device)
        try:
            side = make_side(kind, cfg, device, dtype)
        except Exception as e:  # noqa: BLE001 -- the other side's numbers still count
            runs.append({"side": kind, "error": f"build: {type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]})
            print(runs[-1]["traceback"], file=sys.stderr)
            continue
        infos[kind] = side.info
        print(f"# built {kind}: {json.dumps(side.info)}", flush=True)
        if kind == "baseline":
            plans = [e for e in args.baseline_experts.split(",") if e]
        else:
            plans = [args.ours_variant or f"ck{cfg['num_hidden_layers']}e"]
        for plan in plans:
            if kind == "baseline":
                side.model.base_model.model.set_experts_implementation(plan)
            else:
                train_bench.set_fast(side, plan, 2 * seq)
            group: list = []
            r = train_bench.measure(side, kind, plan, None, data, cfg, device, autocast, meta, run_args, group, busy)
            for x in group + [r]:
                x.update({"workload": "fixed", "variant": plan})
            if kind == "baseline" and args.gpu_busy_steps > 0 and not args.no_gpu_busy and device.type == "cuda":
                busy[plan] = train_bench.gpu_busy(side, data["timed"][: args.gpu_busy_steps], device, autocast)
                print(f"# baseline GPU-busy ({plan}): {json.dumps(busy[plan])[:400]}", flush=True)
            runs += group + [r]
            train_bench.print_table([r])
            if kind == "ours":
                from tuneboard_trainer.fast.moe import GROUPED

                # grouped_gemm_off: why torch._grouped_mm did not run (None: it ran, where CUDA has it)
                r["fast_path"] = {"ckpt_layers": side.fast.ckpt_layers, "moe": side.fast.moe,
                                  "grouped_gemm_off": GROUPED["disabled"]}
            if args.json_out:  # partial results survive a run killed at its time limit
                with open(args.json_out, "w") as f:
                    json.dump({"meta": meta, "sides": infos, "runs": runs, "gpu_busy": busy,
                               "records": summarize(runs, busy, meta), "partial": True}, f)
        del side
        train_bench.free(device)
    records = summarize(runs, busy, meta)
    for rec in records:
        print(f"# record {json.dumps(rec)}")
    if args.records_out:
        with open(args.records_out, "w") as f:
            json.dump(records, f, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"meta": meta, "sides": infos, "runs": runs, "gpu_busy": busy, "records": records}, f, indent=2)
    return 0 if all("error" not in r for r in runs) else 1


def summarize(runs: list[dict], busy: dict, meta: dict) -> list[dict]:
    """One docs/benchmarks.json-style record per baseline experts implementation: ours against its best run."""
    ours = next((r for r in runs if r.get("side") == "ours" and "error" not in r), None)
    records = []
    for impl in sorted({r.get("variant") for r in runs if r.get("side") == "baseline"}):
        base_runs = [r for r in runs if r.get("side") == "baseline" and r.get("variant") == impl and "error" not in r]
        base = max(base_runs, key=lambda r: r["tokens_per_s"], default=None)
        o, b = (ours or {}).get("tokens_per_s"), (base or {}).get("tokens_per_s")
        bound = (busy.get(impl) or {}).get("gpu_busy_tokens_per_s")
        records.append({
            "name": f"train.moe.qwen3_30b_a3b.lora.{impl}", "shape": meta["shape"], "batch": meta["batch"],
            "ours": o, "baseline": b, "unit": "tokens/s", "ratio": round(o / b, 3) if o and b else None,
            "baseline_experts": impl, "baseline_best_of": len(base_runs),
            "baseline_gpu_busy_tokens_per_s": bound, "ratio_gpu_busy": round(o / bound, 3) if o and bound else None,
            "ours_peak_gib": (ours or {}).get("peak_gib"), "baseline_peak_gib": (base or {}).get("peak_gib"),
            "ours_first_loss": (ours or {}).get("first_loss"), "baseline_first_loss": (base or {}).get("first_loss"),
            "ours_useful_tflops": (ours or {}).get("useful_tflops"),
            "baseline_useful_tflops": (base or {}).get("useful_tflops"),
            "card": meta["card"], "date": meta["date"], "torch": meta["torch"], "host_cpu": meta.get("host_cpu"),
            "gpu_clock_mhz": (ours or {}).get("gpu_clock_mhz"), "baseline_gpu_clock_mhz": (base or {}).get("gpu_clock_mhz"),
        })
    return records


if __name__ == "__main__":
    sys.exit(main())
