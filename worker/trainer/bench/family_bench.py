"""Training throughput of a model family beyond the Llama layout: our fast path vs LLaMA-Factory's stack.

    PYTHONPATH=worker/trainer python3 -m bench.family_bench --family gemma2-9b \
        --json-out gemma2.json --records-out gemma2-records.json          # Gemma-2-9B shape, one GPU
    PYTHONPATH=worker/trainer .venv/bin/python -m bench.family_bench --family gemma2-9b --quick --device cpu

The run is bench.train_bench's fixed workload (batch 2 x 1024 random tokens, every token labelled, same seeded
random weights on both sides, LoRA r8 / alpha 16 / dropout 0 on the 7 projections, fp32 adapters, bf16
weights + bf16 autocast, AdamW, clip 1.0, one micro-batch per step) on a family's shape:
  baseline  transformers <Family>ForCausalLM from its config + peft, gradient checkpointing
            (use_reentrant=False), loss from `labels`. Attention as LLaMA-Factory picks it for a trainable
            Gemma 2 (model_utils/attention.py): FlashAttention-2 when flash-attn is installed, else "eager"
            (SDPA would drop the score soft-cap), so "eager" without flash-attn. Its record is the best of
            --baseline-best-of runs, plus its GPU-busy time (bench.gpu_busy).
  ours      tuneboard_trainer's model for the family (model.build_model) through the fast path
            (fast.FastPath -> fast/gemma.py's GemmaFastPath), one run per --variants entry
            (train_bench.set_fast's "ck<K>[m<M>][c][g]", or "autoc": the recompute FastPath.plan_recompute picks
            for the baseline's measured peak); the record is the fastest run whose peak memory is at most the
            baseline's.
Useful FLOPs per step: 4 x (matmul parameters) per token plus causal attention (QK^T and PV over
heads x head_dim, forward 2 x, backward 4 x); recompute is not counted. Records go to --records-out in
docs/benchmarks.json's layout (name train.<family>.fixed_2x<seq>).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import traceback

import torch

from . import train_bench, workloads
from .host import host_facts
from .models import LORA_ALPHA, LORA_DROPOUT, LORA_R, LORA_TARGETS, default_dtype, seeded_init

# google/gemma-2-9b's config.json, the fields that define the shape (42 layers, 16 q / 8 kv heads of 256).
GEMMA2_9B = {
    "architectures": ["Gemma2ForCausalLM"],
    "model_type": "gemma2",
    "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 3584,
    "intermediate_size": 14336,
    "max_position_embeddings": 8192,
    "num_attention_heads": 16,
    "num_hidden_layers": 42,
    "num_key_value_heads": 8,
    "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000.0,
    "sliding_window": 4096,
    "tie_word_embeddings": True,
    "vocab_size": 256000,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "pad_token_id": 0,
}

# --quick: the same architecture, a window shorter than the quick sequences (so it binds), for a CPU smoke run.
GEMMA2_TINY = {**GEMMA2_9B, "hidden_size": 64, "intermediate_size": 160, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 16, "query_pre_attn_scalar": 16, "num_hidden_layers": 2,
               "sliding_window": 16, "vocab_size": 1024}

FAMILIES = {"gemma2-9b": (GEMMA2_9B, GEMMA2_TINY, "Gemma2Config", "Gemma2ForCausalLM", "Gemma-2-9B")}


def matmul_params(cfg: dict) -> int:
    """Parameters in a matmul per token: the blocks' projections (q/o are heads x head_dim wide) + lm_head."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    q, kv = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"]
    return cfg["num_hidden_layers"] * (2 * h * q + 2 * h * kv + 3 * h * i) + h * v


def useful_flops(b: dict, cfg: dict) -> float:
    lens = train_bench.sample_lengths(b)
    width = cfg["num_attention_heads"] * cfg["head_dim"]
    attn = 6 * cfg["num_hidden_layers"] * width * sum(L * L / 2 for L in lens)  # causal: L^2 / 2 pairs
    return 4.0 * matmul_params(cfg) * sum(lens) + attn


def baseline_attention() -> str:
    """LLaMA-Factory's choice for a trainable Gemma 2: FlashAttention-2 if flash-attn is installed, else eager."""
    try:
        from transformers.utils import is_flash_attn_2_available

        return "flash_attention_2" if is_flash_attn_2_available() else "eager"
    except ImportError:
        return "eager"


def build_baseline(cfg: dict, cfg_class: str, model_class: str, device, dtype):
    """transformers' model from the config (random weights, seeded as ours) + peft LoRA, as bench.models does."""
    import transformers
    from peft import LoraConfig, get_peft_model

    attn = baseline_attention()
    hf_cfg = getattr(transformers, cfg_class)(**{k: v for k, v in cfg.items() if k not in ("architectures", "model_type")})
    hf_cfg.use_cache = False
    hf_cfg._attn_implementation = attn
    with default_dtype(dtype), torch.device(device):
        model = getattr(transformers, model_class)(hf_cfg)
    seeded_init(model)
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    lcfg = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT, target_modules=LORA_TARGETS,
                      task_type="CAUSAL_LM")
    with torch.device(device):
        model = get_peft_model(model, lcfg)
    for p in model.parameters():  # LLaMA-Factory upcasts trainable parameters to fp32
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    return model, {"attn_implementation": getattr(model.base_model.model.config, "_attn_implementation", attn)}


def build_ours(cfg: dict, device, dtype):
    """Our model for the family (model.build_model), the same seeded weights, LoRA through prepare_model."""
    from tuneboard_trainer.methods import LoraSettings, prepare_model
    from tuneboard_trainer.model import ModelConfig, build_model

    mcfg = ModelConfig.from_hf(dict(cfg))
    with default_dtype(dtype), torch.device(device):
        model = build_model(mcfg)
    model.init_rope(device)
    seeded_init(model)
    with torch.device(device):
        prepare_model(model, "lora", lora=LoraSettings(targets="all", r=LORA_R, alpha=LORA_ALPHA, dropout=LORA_DROPOUT))
    model.train()
    return model, {"architecture": mcfg.architecture}


def make_side(kind: str, family: tuple, cfg: dict, device, dtype) -> train_bench.Side:
    t = time.perf_counter()
    if kind == "baseline":
        model, info = build_baseline(cfg, family[2], family[3], device, dtype)
        step = train_bench.baseline_step
    else:
        model, info = build_ours(cfg, device, dtype)
        step = train_bench.ours_step
    params = [p for p in model.parameters() if p.requires_grad]
    train_bench.sync(device)
    info = {**info, "build_s": round(time.perf_counter() - t, 2), "trainable_params": sum(p.numel() for p in params)}
    side = train_bench.Side(kind, model, step, params, info)
    side.make_optimizer(kind)
    return side


def planned_variant(side: train_bench.Side, flags: str, base_peak_gib: float, max_tokens: int) -> str:
    """"ck<K>m<M><flags>" with the recompute FastPath.plan_recompute picks for activations that keep the peak at the
    baseline's: its peak minus what is resident now, the optimizer's state and gradients still to come (fp32, 12
    bytes a trainable parameter) and the loss / allocator headroom the trainer reserves (memory.reserve_bytes)."""
    from tuneboard_trainer.fast import FastPath
    from tuneboard_trainer.fast.memory import reserve_bytes

    trainable = sum(p.numel() for p in side.params)
    budget = (int(base_peak_gib * train_bench.GIB) - torch.cuda.memory_allocated() - 12 * trainable
              - reserve_bytes(side.model, max_tokens))
    k, m = FastPath(side.model, max_tokens, ckpt_layers=0).plan_recompute(max(budget, 0))
    return f"ck{k}m{m}{flags}"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", choices=sorted(FAMILIES), default="gemma2-9b")
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="tiny shape, few steps (CPU smoke run)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run (default 6; --quick 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps before each run (default 2; --quick 1)")
    p.add_argument("--seq", type=int, default=None, help="tokens per sequence (default 1024; --quick 64)")
    p.add_argument("--sides", default="baseline,ours")
    p.add_argument("--variants", default=None,
                   help="fast-path variants of ours: ck<K>[m<M>][c][g] as train_bench, or auto[c]: the recompute "
                        "planned for the baseline's peak memory (default ck0m21cg,ck0m32cg,ck0m42cg on CUDA; "
                        "ck0,ck1m1 on the CPU)")
    p.add_argument("--baseline-best-of", type=int, default=3)
    p.add_argument("--no-gpu-busy", action="store_true")
    p.add_argument("--ours-gpu-busy", action="store_true",
                   help="also profile each of our runs (gpu_busy in its run): is our step bound by the host or the device?")
    p.add_argument("--sync-each-step", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", default=None)
    p.add_argument("--records-out", default=None)
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Runs the benchmark; train_bench.FAST_OPTIONS, which it sets for its runs, is restored afterwards (tests run
    several benchmarks in one process)."""
    saved = train_bench.FAST_OPTIONS
    try:
        return _main(argv)
    finally:
        train_bench.FAST_OPTIONS = saved


def _main(argv=None) -> int:
    args = parse_args(argv)
    from tuneboard_trainer.fast import FastPathOptions

    train_bench.FAST_OPTIONS = FastPathOptions()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available; use --device cpu (with --quick)", file=sys.stderr)
        return 2
    family = FAMILIES[args.family]
    cfg = family[1] if args.quick else family[0]
    steps = args.steps or (2 if args.quick else 6)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    seq = args.seq or (64 if args.quick else 1024)
    variants = [v for v in (args.variants or ("ck0m21cg,ck0m32cg,ck0m42cg" if device.type == "cuda" else "ck0,ck1m1"))
                .split(",") if v]
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    autocast = train_bench.make_autocast(device, dtype)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    mm_n = 512 if args.quick else 8192
    meta = {"args": vars(args), "date": train_bench.DATE,
            "run_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "card": train_bench.card_name(device), "torch": torch.__version__, "python": platform.python_version(),
            "shape": "tiny (--quick)" if args.quick else family[4], "config": cfg, "dtype": str(dtype),
            "matmul_params": matmul_params(cfg), **host_facts(),
            "matmul_tflops": round(train_bench.measure_matmul(device, dtype, mm_n), 1 if device.type == "cuda" else 4),
            "matmul_shape": f"{mm_n}x{mm_n}x{mm_n} {str(dtype).replace('torch.', '')}"}
    for mod in ("transformers", "peft"):
        meta[mod] = __import__(mod).__version__
    print(f"# {meta['card']} | torch {meta['torch']} | transformers {meta['transformers']} | {meta['shape']}"
          f" | matmul {meta['matmul_tflops']} TFLOP/s", flush=True)
    fb = workloads.fixed_batches(warmup + steps, seq, cfg["vocab_size"], args.seed)
    data = {"warm": fb[:warmup], "timed": fb[warmup:]}
    flops = sum(useful_flops(b, cfg) for b in data["timed"])
    args.baseline_best_of = max(1, args.baseline_best_of)
    runs, busy, sides_info = [], {}, {}
    for kind in [s for s in args.sides.split(",") if s]:
        train_bench.free(device)
        try:
            side = make_side(kind, family, cfg, device, dtype)
        except Exception as e:  # noqa: BLE001 -- the other side's numbers still count
            runs.append({"side": kind, "workload": "fixed", "error": f"build: {type(e).__name__}: {e}",
                         "traceback": traceback.format_exc()[-3000:]})
            print(runs[-1]["traceback"], file=sys.stderr)
            continue
        sides_info[kind] = side.info
        print(f"# built {kind}: {json.dumps(side.info)}", flush=True)
        done = set()
        for variant in (variants if kind == "ours" else [None]):
            if kind == "ours" and variant.startswith("auto"):
                base_peak = next((r["peak_gib"] for r in runs if r["side"] == "baseline" and r.get("peak_gib")
                                  and "error" not in r), None)
                if base_peak is None:
                    print(f"# {variant}: no baseline peak memory to plan from; skipped", flush=True)
                    continue
                variant = planned_variant(side, variant[4:], base_peak, 2 * seq)
                print(f"# planned at the baseline's peak ({base_peak} GiB): {variant}", flush=True)
            if variant in done:
                continue
            done.add(variant)
            if kind == "ours":
                train_bench.set_fast(side, variant, 2 * seq)
            r = train_bench.measure(side, kind, "fixed", variant, data, cfg, device, autocast, meta, args, runs, busy)
            if kind == "ours" and args.ours_gpu_busy:
                r["gpu_busy"] = train_bench.gpu_busy(side, data["timed"], device, autocast)
                print(f"# {variant} GPU-busy: {json.dumps(r['gpu_busy'])}", flush=True)
            if side.fast is not None:
                r.update({"ckpt_layers": side.fast.ckpt_layers, "mlp_recompute": side.fast.mlp_recompute,
                          "compiled": side.fast.compiled, "fast_path": type(side.fast).__name__})
            runs.append(r)
            train_bench.print_table([r])
            if args.json_out:  # partial results survive a run killed at its time limit
                with open(args.json_out, "w") as f:
                    json.dump({"meta": meta, "sides": sides_info, "runs": runs, "gpu_busy": busy, "partial": True}, f)
        del side
        train_bench.free(device)
    for r in runs:  # train_bench's FLOP count assumes hidden = heads x head_dim: this family's count instead
        if "time_s" in r:
            r["useful_tflops"] = round(flops / r["time_s"] / 1e12, 2)
            r["useful_util"] = round(r["useful_tflops"] / meta["matmul_tflops"], 4)
    print()
    train_bench.print_table(runs)
    records = train_bench.summarize(runs, {}, ["fixed"], seq, meta, busy)
    for rec in records:
        rec["name"] = f"train.{args.family.replace('-', '_')}.fixed_2x{seq}"
        print(f"# record {json.dumps(rec)}")
    if args.records_out:
        with open(args.records_out, "w") as f:
            json.dump(records, f, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"meta": meta, "sides": sides_info, "runs": runs, "records": records, "gpu_busy": busy}, f,
                      indent=2)
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
