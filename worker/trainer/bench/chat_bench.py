"""Chat speed on one GPU, in ONE process: transformers (baseline) vs our chat engine, same model, same run.

    python -m bench.chat_bench --out results.json        (from worker/trainer, on a CUDA machine)

1. writes a random Llama-3.1-8B-shaped model (bf16, sharded safetensors) to local disk;
2. measures the copy bandwidth (device-to-device copy of a 4 GiB tensor, read + write bytes)
   and the decode limit = bandwidth / weight bytes (every token reads every weight once);
3. baseline: `AutoModelForCausalLM.from_pretrained` + first token, then `generate` greedy 256 tokens;
4. ours: load-to-first-token (weights straight to the GPU + prefill + first token), warm-up
   (CUDA-graph capture, or torch.compile + capture), decode tokens/s greedy 256 tokens, and the
   same with a LoRA adapter attached unmerged (compare mode's path);
5. ours on the 4-bit base (the engine's packed NF4 rows, quant/nf4_rows.py): quantized while loading the bf16
   checkpoint, and read from a bitsandbytes 4-bit checkpoint written from the same weights; load to first
   token (the Triton kernels compiled once before, timed apart), the GEMV tile measured over GEMV_CONFIGS
   (one token's projections as one CUDA graph, against the bf16 engine's cuBLAS GEMVs), and decode tokens/s
   (`--skip-nf4` leaves it out).

Both loaders read the files from a warm page cache (the model was just written), or with `--page-cache cold`
from a cold one: bench.page_cache.evict drops the files' pages before each loader starts. The JSON is
rewritten after every stage, so a run cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import torch

from tuneboard_trainer.chat_engine import ChatEngine
from tuneboard_trainer.sampling import GenParams

from .host import host_facts
from .page_cache import evict

CONFIG = {  # Llama-3.1-8B-Instruct's shape
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False, "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16", "dtype": "bfloat16",
}
PROMPT_LEN, NEW_TOKENS, MAX_SEQ = 32, 256, 4096


def sync():
    torch.cuda.synchronize()


def write_model(d: Path, shard_bytes: int = 5 * 1024**3) -> int:
    from safetensors.torch import save_file

    c = CONFIG
    D, I, V, KV = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_key_value_heads"] * c["head_dim"]
    shapes = {"model.embed_tokens.weight": (V, D)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
                       p + "self_attn.q_proj.weight": (D, D), p + "self_attn.k_proj.weight": (KV, D),
                       p + "self_attn.v_proj.weight": (KV, D), p + "self_attn.o_proj.weight": (D, D),
                       p + "mlp.gate_proj.weight": (I, D), p + "mlp.up_proj.weight": (I, D),
                       p + "mlp.down_proj.weight": (D, I)})
    shapes.update({"model.norm.weight": (D,), "lm_head.weight": (V, D)})
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(CONFIG, indent=2))
    g = torch.Generator(device="cuda").manual_seed(0)
    shards, cur, size, total = [], {}, 0, 0
    for name, shp in shapes.items():
        n = math.prod(shp) * 2
        if cur and size + n > shard_bytes:
            shards.append(cur)
            cur, size = {}, 0
        if len(shp) == 1:
            cur[name] = torch.ones(shp, dtype=torch.bfloat16)
        else:  # std 0.02 like HF's init: activations stay finite through 32 layers
            cur[name] = (torch.randn(shp, device="cuda", generator=g, dtype=torch.bfloat16) * 0.02).cpu()
        size += n
        total += n
    shards.append(cur)
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    wm = {k: nm for nm, sh in zip(names, shards) for k in sh}
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": wm}))
    for nm, sh in zip(names, shards):
        save_file(sh, str(d / nm), metadata={"format": "pt"})
    return total


def write_adapter(d: Path, r: int = 16) -> None:
    """A random PEFT-format LoRA adapter on all seven projections (what a Tuneboard run saves)."""
    from safetensors.torch import save_file

    c = CONFIG
    D, I, KV = c["hidden_size"], c["intermediate_size"], c["num_key_value_heads"] * c["head_dim"]
    dims = {"q_proj": (D, D), "k_proj": (D, KV), "v_proj": (D, KV), "o_proj": (D, D),
            "gate_proj": (D, I), "up_proj": (D, I), "down_proj": (I, D)}
    sd = {}
    for i in range(c["num_hidden_layers"]):
        for m, (din, dout) in dims.items():
            par = "self_attn" if m.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
            k = f"base_model.model.model.layers.{i}.{par}.{m}"
            sd[k + ".lora_A.weight"] = torch.randn(r, din) * 0.01
            sd[k + ".lora_B.weight"] = torch.randn(dout, r) * 0.01
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0,
        "target_modules": list(dims), "bias": "none", "use_rslora": False, "use_dora": False}))
    save_file(sd, str(d / "adapter_model.safetensors"))


def copy_bandwidth(nbytes: int = 4 * 1024**3, iters: int = 20) -> float:
    """GB/s counting read + write bytes of a device-to-device copy."""
    a = torch.empty(nbytes // 2, dtype=torch.bfloat16, device="cuda")
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    sync()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(iters):
        b.copy_(a)
    e.record()
    sync()
    sec = s.elapsed_time(e) / 1000
    del a, b
    return 2 * nbytes * iters / sec / 1e9


def baseline(d: Path, prompt: list[int], res: dict) -> list[int]:
    import transformers
    from transformers import AutoModelForCausalLM

    sync()
    t0 = time.perf_counter()
    try:
        model = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.bfloat16, device_map="cuda")
    except Exception as e:  # noqa: BLE001 -- no accelerate: load, then move (slower; noted)
        res["baseline_note"] = f"device_map failed ({e}); loaded on CPU then .cuda()"
        model = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.bfloat16).cuda()
    sync()
    t_load = time.perf_counter() - t0
    ids = torch.tensor([prompt], device="cuda")
    with torch.no_grad():
        first = int(model(ids).logits[0, -1].argmax())
    sync()
    res["transformers"] = {"version": transformers.__version__, "from_pretrained_s": round(t_load, 3),
                           "load_to_first_token_s": round(time.perf_counter() - t0, 3), "first_token": first}
    kw = dict(do_sample=False, eos_token_id=None, pad_token_id=0)
    model.generate(ids, max_new_tokens=8, min_new_tokens=8, **kw)  # warm-up
    sync()
    t0 = time.perf_counter()
    out = model.generate(ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, **kw)
    sync()
    dt = time.perf_counter() - t0
    res["transformers"]["generate_tok_s"] = round(NEW_TOKENS / dt, 2)
    toks = out[0, len(prompt):].tolist()
    del model
    gc.collect()
    torch.cuda.empty_cache()
    return toks


def decode_rate(eng: ChatEngine, prompt: list[int], n: int = NEW_TOKENS) -> tuple[float, list[int]]:
    p = GenParams(max_new_tokens=n, temperature=0.0)
    list(eng.generate(prompt, GenParams(max_new_tokens=8, temperature=0.0)))  # warm-up
    sync()
    t0 = time.perf_counter()
    toks = list(eng.generate(prompt, p))  # prefill + 256 tokens, one host sync per token (as in chat)
    sync()
    return len(toks) / (time.perf_counter() - t0), toks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--dir", default="/tmp/tuneboard-chat-bench")
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--skip-nf4", action="store_true", help="skip our engine on the 4-bit base")
    ap.add_argument("--compile-after-s", type=float, default=240.0, help="skip torch.compile if the run is past this")
    ap.add_argument("--page-cache", choices=("warm", "cold"), default="warm",
                    help="cold: drop the model files from the page cache before each side loads them")
    a = ap.parse_args(argv)
    out = Path(a.out)
    res: dict = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__,
                 "date": time.strftime("%Y-%m-%d", time.gmtime()), "prompt_tokens": PROMPT_LEN,
                 "new_tokens": NEW_TOKENS, "max_seq_len": MAX_SEQ, "page_cache": a.page_cache, **host_facts()}

    def save():
        out.write_text(json.dumps(res, indent=2))
        print(json.dumps(res), flush=True)

    t_start = time.perf_counter()
    root = Path(a.dir)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    res["weight_bytes"] = write_model(root / "model")
    write_adapter(root / "adapter")
    res["write_model_s"] = round(time.perf_counter() - t0, 1)
    bw = copy_bandwidth()
    res["copy_bw_gb_s"] = round(bw, 1)
    res["limit_tok_s"] = round(bw * 1e9 / res["weight_bytes"], 1)
    save()
    prompt = torch.randint(0, CONFIG["vocab_size"], (PROMPT_LEN,), generator=torch.Generator().manual_seed(1)).tolist()
    if a.page_cache == "cold":
        res["evicted_before_transformers"] = evict(root / "model")
    hf_toks = baseline(root / "model", prompt, res)
    save()

    # Ours: load -> first token.
    if a.page_cache == "cold":
        res["evicted_before_ours"] = evict(root / "model")
    sync()
    t0 = time.perf_counter()
    eng = ChatEngine(root / "model", device="cuda", max_seq_len=MAX_SEQ)
    sync()
    t_read = time.perf_counter() - t0
    with torch.inference_mode():
        first = int(eng.prefill(prompt).argmax())
    res["ours"] = {"read_weights_s": round(t_read, 3), "load_to_first_token_s": round(time.perf_counter() - t0, 3),
                   "first_token": first, "first_token_matches_transformers": first == res["transformers"]["first_token"]}
    rate, toks = decode_rate(eng, prompt, 64)  # eager (no graph): only to show what the graph buys
    res["ours"]["eager_decode_tok_s_64"] = round(rate, 2)
    save()
    t0 = time.perf_counter()
    eng.warmup("graph")
    res["ours"]["graph_warmup_s"] = round(time.perf_counter() - t0, 3)
    rate, toks = decode_rate(eng, prompt)
    res["ours"]["graph_decode_tok_s"] = round(rate, 2)
    agree = next((i for i, (x, y) in enumerate(zip(toks, hf_toks)) if x != y), len(toks))
    res["ours"]["greedy_tokens_equal_to_transformers"] = agree  # bf16: a random model's near-ties may split
    save()
    # Adapter attached without reloading the base; compare mode turns it off per request.
    t0 = time.perf_counter()
    with torch.inference_mode():
        eng.add_adapters([root / "adapter"])
    eng.warmup("graph")
    res["ours"]["adapter_attach_s"] = round(time.perf_counter() - t0, 3)
    res["ours"]["graph_decode_tok_s_with_adapter"] = round(decode_rate(eng, prompt)[0], 2)
    with torch.inference_mode():
        eng.add_adapters([])
    save()
    if a.skip_compile or time.perf_counter() - t_start > a.compile_after_s:
        res["ours"]["compile_skipped"] = True
    else:
        try:
            t0 = time.perf_counter()
            eng.warmup("compile")
            res["ours"]["compile_warmup_s"] = round(time.perf_counter() - t0, 3)
            rate, ctoks = decode_rate(eng, prompt)
            res["ours"]["compile_decode_tok_s"] = round(rate, 2)
            # compiled kernels round differently from eager ones: where greedy decoding first parts from graph's
            res["ours"]["compile_tokens_equal_to_graph"] = next(
                (i for i, (x, y) in enumerate(zip(ctoks, toks)) if x != y), len(ctoks))
            try:
                res["ours"]["compile_decode_profile"] = decode_profile(eng)
            except Exception as e:  # noqa: BLE001
                res["ours"]["profile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
            # A second load on the same machine: Inductor's on-disk cache skips code generation.
            torch._dynamo.reset()
            t0 = time.perf_counter()
            eng.warmup("compile")
            res["ours"]["compile_warmup_cached_s"] = round(time.perf_counter() - t0, 3)
        except Exception as e:  # noqa: BLE001 -- report, keep the graph numbers
            traceback.print_exc()
            res["ours"]["compile_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        save()
    try:
        res["ours"]["projections_ms"] = round(projections_ms(eng, lambda x, w: torch.mm(x, w.t())), 4)
    except Exception as e:  # noqa: BLE001
        res["ours"]["projections_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    del eng
    gc.collect()
    torch.cuda.empty_cache()
    if not a.skip_nf4:
        nf4_stage(root, prompt, res, a, save, compile_ok=not a.skip_compile)
    o = res["ours"]
    o["decode_tok_s"] = max(o.get("graph_decode_tok_s", 0), o.get("compile_decode_tok_s", 0))
    o["decode_mode"] = "compile" if o.get("compile_decode_tok_s", 0) > o.get("graph_decode_tok_s", 0) else "graph"
    o["decode_fraction_of_limit"] = round(o["decode_tok_s"] / res["limit_tok_s"], 3)
    o["load_ratio_vs_transformers"] = round(o["load_to_first_token_s"] / res["transformers"]["load_to_first_token_s"], 3)
    save()
    if "nf4" in res:
        n = res["nf4"]
        for src in ("from_bf16", "from_bnb"):
            if "decode_tok_s" in n.get(src, {}):
                n[src]["decode_vs_bf16"] = round(n[src]["decode_tok_s"] / o["decode_tok_s"], 3)
                n[src]["load_vs_bf16"] = round(n[src]["load_to_first_token_s"] / o["load_to_first_token_s"], 3)
        save()
    shutil.rmtree(root, ignore_errors=True)
    return 0


GEMV_CONFIGS = [  # triton_nf4_rows' two GEMV kernels over tiles
    *(dict(kernel="bytes", block_n=bn, block_k=bk, num_warps=nw, scale_bcast=True) for bn, bk, nw in (
        (4, 256, 2), (8, 512, 4))),
    # two rows a lane take ~240 registers (so at most 8 warps an SM): up to 8 warps only
    *(dict(kernel="lanes", rows_per_lane=r, num_warps=nw, unroll=u) for r, nw, u in (
        (1, 8, 1), (1, 16, 1), (1, 8, 2), (1, 16, 2), (1, 4, 4), (2, 8, 1))),
]
GEMV_KEYS = ("kernel", "block_n", "block_k", "num_warps", "scale_bcast", "rows_per_lane", "unroll")


def decode_profile(eng: ChatEngine, steps: int = 16) -> dict:
    """Where a decode step's device time goes (the warmed-up graph replayed `steps` times under torch.profiler):
    busy ms per token, kernels per token, and the kernels taking the most time (per token)."""
    from torch.profiler import ProfilerActivity, profile

    tok = torch.zeros(1, dtype=torch.long, device="cuda")
    with torch.inference_mode():
        eng.decode(tok, 40)
        sync()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for i in range(steps):
                eng.decode(tok, 40 + i)
            sync()
    by_name: dict[str, list] = {}
    for e in prof.profiler.kineto_results.events():
        if "CUDA" in str(e.device_type()) and e.duration_ns() > 0:
            k = by_name.setdefault(e.name()[:90], [0, 0.0])
            k[0] += 1
            k[1] += e.duration_ns() / 1e6
    busy = sum(v[1] for v in by_name.values())
    top = sorted(by_name.items(), key=lambda kv: -kv[1][1])[:14]
    return {"busy_ms_per_token": round(busy / steps, 4), "kernels_per_token": sum(v[0] for v in by_name.values()) / steps,
            "top": [{"kernel": k, "per_token": v[0] / steps, "ms_per_token": round(v[1] / steps, 4)} for k, v in top]}


def projections_ms(eng: ChatEngine, mm) -> float:
    """One token's projections of every layer (mm(x, weight)), replayed as one CUDA graph: ms per token."""
    ws = [w for L in eng.layers for w in (L.wqkv, L.wo, L.wgu, L.wd)]
    xs = {w.shape[1]: torch.randn(1, w.shape[1], device="cuda", dtype=torch.bfloat16) for w in ws}

    def run():
        return [mm(xs[w.shape[1]], w) for w in ws]

    with torch.inference_mode():
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            run()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            keep = run()
        g.replay()
        sync()
        t0 = time.perf_counter()
        for _ in range(50):
            g.replay()
        sync()
    del keep
    return 1000 * (time.perf_counter() - t0) / 50


def nf4_side(model_dir: Path, prompt: list[int], a, compile_ok: bool, sweep: bool) -> dict:
    """Our engine on the 4-bit base (packed NF4 rows): load to first token, GEMV tiles, decode."""
    from tuneboard_trainer.quant import triton_nf4_rows

    r: dict = {}
    if a.page_cache == "cold":
        r["evicted"] = evict(model_dir)
    sync()
    t0 = time.perf_counter()
    eng = ChatEngine(model_dir, device="cuda", max_seq_len=MAX_SEQ, base_method="nf4", packed=True)
    sync()
    r["read_weights_s"] = round(time.perf_counter() - t0, 3)
    with torch.inference_mode():
        r["first_token"] = int(eng.prefill(prompt).argmax())
    sync()
    r["load_to_first_token_s"] = round(time.perf_counter() - t0, 3)
    r["packed"] = eng.packed
    r["gpu_bytes_after_load"] = torch.cuda.memory_allocated()
    if sweep:
        r["bf16_rounding_note"] = "every weight rounded to bf16 in registers, as dequantized for training"
        times = []
        for c in GEMV_CONFIGS:
            try:
                ms = projections_ms(eng, lambda x, w: triton_nf4_rows.rows_gemv(x, w.packed, w.scale, w.code,
                                                                                w.dtype, c))
            except Exception as e:  # noqa: BLE001 -- a tile that does not compile here is reported, not fatal
                times.append({**c, "error": f"{type(e).__name__}: {str(e)[:120]}"})
                continue
            times.append({**c, "projections_ms": round(ms, 4)})
        ok = [t for t in times if "projections_ms" in t]
        r["gemv_configs"] = times
        if ok:
            best = min(ok, key=lambda t: t["projections_ms"])
            triton_nf4_rows.GEMV_CONFIG.clear()
            triton_nf4_rows.GEMV_CONFIG.update({k: best[k] for k in GEMV_KEYS if k in best})
            nbytes = sum(w.packed.numel() + 4 * w.scale.numel() for L in eng.layers
                         for w in (L.wqkv, L.wo, L.wgu, L.wd))
            r["gemv_best"] = best
            r["projections_gb_per_s"] = round(nbytes / best["projections_ms"] / 1e6, 1)
    t0 = time.perf_counter()
    eng.warmup("graph")
    r["graph_warmup_s"] = round(time.perf_counter() - t0, 3)
    r["graph_decode_tok_s"] = round(decode_rate(eng, prompt)[0], 2)
    if compile_ok:
        try:
            t0 = time.perf_counter()
            eng.warmup("compile")
            r["compile_warmup_s"] = round(time.perf_counter() - t0, 3)
            r["compile_decode_tok_s"] = round(decode_rate(eng, prompt)[0], 2)
            try:
                r["compile_decode_profile"] = decode_profile(eng)
            except Exception as e:  # noqa: BLE001
                r["profile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
        except Exception as e:  # noqa: BLE001 -- report, keep the graph numbers
            traceback.print_exc()
            r["compile_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    r["decode_tok_s"] = max(r["graph_decode_tok_s"], r.get("compile_decode_tok_s", 0))
    del eng
    gc.collect()
    torch.cuda.empty_cache()
    return r


def write_bnb_copy(model_dir: Path, out_dir: Path) -> None:
    """A bitsandbytes 4-bit checkpoint of the bf16 checkpoint in `model_dir` (its config.json and tokenizer files
    too), quantized as a 4-bit run loads it."""
    from tuneboard_trainer.quant.load import load_quantized, save_bnb_4bit

    model = load_quantized(model_dir, "nf4", dtype=torch.bfloat16, device="cuda")
    save_bnb_4bit(model, out_dir, json.loads((model_dir / "config.json").read_text()))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if (model_dir / f).exists():
            shutil.copyfile(model_dir / f, out_dir / f)
    del model
    gc.collect()
    torch.cuda.empty_cache()


def warm_nf4_kernels() -> float:
    """Compile (or load from Triton's cache) the kernels a 4-bit load runs: quantize, and the rows kernels of
    prefill and decode. A machine's first 4-bit load pays this once; the loads below then time the reading."""
    from tuneboard_trainer.quant.nf4_rows import quantize_rows, rows_linear

    sync()
    t0 = time.perf_counter()
    w = quantize_rows(torch.randn(256, 256, device="cuda", dtype=torch.bfloat16))
    with torch.inference_mode():
        for m in (1, 4):
            rows_linear(torch.randn(m, 256, device="cuda", dtype=torch.bfloat16), w)
    sync()
    return time.perf_counter() - t0


def nf4_stage(root: Path, prompt: list[int], res: dict, a, save, compile_ok: bool) -> None:
    """The 4-bit base two ways: quantized while loading the bf16 checkpoint, and read from a bitsandbytes 4-bit
    checkpoint (the "-bnb-4bit" repositories' format) written here from the same weights."""
    res["nf4"] = {}
    try:
        res["nf4"]["kernels_first_compile_s"] = round(warm_nf4_kernels(), 3)
        res["nf4"]["from_bf16"] = nf4_side(root / "model", prompt, a, compile_ok, sweep=True)
        save()
        t0 = time.perf_counter()
        write_bnb_copy(root / "model", root / "bnb")
        res["nf4"]["bnb_write_s"] = round(time.perf_counter() - t0, 1)
        res["nf4"]["bnb_bytes"] = sum(f.stat().st_size for f in (root / "bnb").glob("*.safetensors"))
        res["nf4"]["from_bnb"] = nf4_side(root / "bnb", prompt, a, compile_ok, sweep=False)
        res["nf4"]["first_tokens_equal"] = (res["nf4"]["from_bnb"]["first_token"]
                                            == res["nf4"]["from_bf16"]["first_token"])
    except Exception as e:  # noqa: BLE001 -- keep what the bf16 side measured
        traceback.print_exc()
        res["nf4"]["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    save()


if __name__ == "__main__":
    sys.exit(main())
