"""Measuring what recompute costs and frees on the run's own device and shapes (for recompute_plan.py).

One of the model's blocks runs forward + backward on a packed micro-batch of max_tokens random inputs in each
of four ways: keeping everything, recomputing gate/up, keeping the SwiGLU product, and recomputing the whole
block (torch.utils.checkpoint, as FastPath.hidden does). The step-time differences to the first are the
costs; the bytes each way keeps between forward and backward are read from the CUDA allocator (elsewhere:
the bytes of the tensors autograd saves, counted through saved-tensor hooks), and so is the most its forward
and backward allocate on top (the temporaries every plan needs room for once). Each way runs once to warm up
and then `repeats` times; the fastest run counts. The blocks run eagerly (compiled regions keep about as much:
fast/functions.py spells recompute so that it survives compilation).

Nothing of the run changes: the random inputs come from a generator of their own, the global RNG state is put
back, the block's flags and its parameters' gradients are restored.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable

import torch
from torch.utils.checkpoint import checkpoint

from .attention import attention
from .blocks import _post_attn, _pre_attn
from .functions import FUNCTION_MODE
from .recompute_plan import RecomputeCosts
from .weights import fuse_weights, refresh_augmented

# The ways one block runs: (recompute gate/up, keep the SwiGLU product, recompute the whole block).
WAYS = {"keep": (False, False, False), "mlp": (True, False, False), "product": (False, True, False),
        "block": (False, False, True)}
MIN_SECONDS = 1e-7  # a cost measured as zero or less (noise) still makes recompute cost something


def _inputs(fast, device, dtype, gen):
    c = fast.model.config
    T = fast.max_tokens
    x = (torch.randn(T, c.hidden_size, generator=gen, device=device) * 0.5).to(dtype)
    pos = torch.arange(T, device=device)
    freqs = pos[:, None].float() * fast.model.inv_freq.to(device)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None]
    cu = torch.tensor([0, T], dtype=torch.int32, device=device)
    grad = (torch.randn(T, c.hidden_size, generator=gen, device=device) * 1e-3).to(dtype)
    return x, cos, sin, cu, T, grad


def _block(fast, blk, x, cos, sin, cu, max_len):
    q, k, v = _pre_attn(blk, x, cos, sin)
    return _post_attn(blk, x, attention(q, k, v, cu, max_len, fast.options.dense_attention))


class _SavedBytes:
    """Bytes of the distinct storages autograd saves while active (the CPU's stand-in for the allocator)."""

    def __init__(self):
        self.seen: dict[int, int] = {}

    def pack(self, t):
        st = t.untyped_storage()
        self.seen[st.data_ptr()] = st.nbytes()
        return t

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def _one(fast, blk, way, inputs, cuda: bool) -> tuple[float, int, int]:
    """Seconds of one forward + backward of `blk` run `way`, the bytes kept between them, and the most bytes
    the forward or backward allocated above what the forward left (its temporaries; 0 off CUDA)."""
    mlp, product, whole = WAYS[way]
    blk._tb_mlp_recompute, blk._tb_keep_product = mlp, product
    x0, cos, sin, cu, T, grad = inputs
    x = x0.detach().requires_grad_(True)
    counter = _SavedBytes()
    hooks = (torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t) if not cuda
             else contextlib.nullcontext())
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    t0 = time.perf_counter()
    with hooks:
        if whole:
            out = checkpoint(_block, fast, blk, x, cos, sin, cu, T, use_reentrant=False, preserve_rng_state=False)
        else:
            out = _block(fast, blk, x, cos, sin, cu, T)
    if cuda:
        # What forward left for backward: the allocator's growth less the output (the next block's input).
        after_forward = torch.cuda.memory_allocated()
        kept = after_forward - before - out.numel() * out.element_size()
    else:
        # Saved tensors, less what exists anyway: the input, the rotary tables, the frozen weights.
        held = {t.untyped_storage().data_ptr() for t in (x, cos, sin, cu)}
        held |= {t.untyped_storage().data_ptr() for t in (*blk.parameters(), *blk.buffers())}
        kept = sum(n for ptr, n in counter.seen.items() if ptr not in held)
    # Every way keeps the block's input until backward (the residual stream; a recomputed block only that).
    kept += x.numel() * x.element_size()
    out.backward(grad)
    work = 0
    if cuda:
        end.record()
        end.synchronize()
        seconds = start.elapsed_time(end) / 1000
        work = max(0, torch.cuda.max_memory_allocated() - after_forward)
    else:
        seconds = time.perf_counter() - t0
    return seconds, int(kept), int(work)


def measure_costs(fast, device, dtype: torch.dtype, repeats: int = 3, block_index: int | None = None,
                  timer: Callable | None = None) -> RecomputeCosts:
    """RecomputeCosts of `fast` (a FastPath) measured on `device` with its max_tokens and the middle block
    (or `block_index`). dtype: the run's compute dtype (autocast when not fp32). `timer`: tests inject one
    (way -> seconds) in place of the clock."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    model = fast.model
    fuse_weights(model, fast.options.augmented_weights)  # the layouts the steps use (idempotent)
    layers = model.model.layers
    blk = layers[len(layers) // 2 if block_index is None else block_index]
    saved_flags = (getattr(blk, "_tb_mlp_recompute", False), getattr(blk, "_tb_keep_product", False))
    saved_grads = [(p, p.grad) for p in model.parameters() if p.requires_grad]
    saved_mode = dict(FUNCTION_MODE)
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state(device) if cuda else None
    gen = torch.Generator(device=device).manual_seed(0)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()
    results: dict[str, tuple[float, int, int]] = {}
    try:
        FUNCTION_MODE.update(trace=False, compiled=False)
        refresh_augmented(model)
        inputs = _inputs(fast, device, dtype if dtype != torch.float32 else next(model.parameters()).dtype, gen)
        with autocast:
            for way in WAYS:
                runs = [_one(fast, blk, way, inputs, cuda) for _ in range(1 + max(1, repeats))][1:]
                results[way] = (min(r[0] for r in runs), max(r[1] for r in runs), max(r[2] for r in runs))
    finally:
        blk._tb_mlp_recompute, blk._tb_keep_product = saved_flags
        for p, g in saved_grads:
            p.grad = g
        FUNCTION_MODE.update(saved_mode)
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, device)
    seconds = {w: (timer(w) if timer is not None else r[0]) for w, r in results.items()}
    kept = {w: r[1] for w, r in results.items()}
    return RecomputeCosts(
        block_bytes=kept["keep"], mlp_bytes=max(0, kept["keep"] - kept["mlp"]), kept_bytes=kept["block"],
        product_bytes=max(0, kept["product"] - kept["keep"]),
        block_s=max(MIN_SECONDS, seconds["block"] - seconds["keep"]),
        mlp_s=max(MIN_SECONDS, seconds["mlp"] - seconds["keep"]),
        product_s=max(0.0, seconds["keep"] - seconds["product"]), source="measured",
        # Temporaries of a block that recomputes nothing; what recompute holds again is plan_need's own term.
        work_bytes=max(results["keep"][2], results["product"][2]))
