"""Causal attention within each packed sample: varlen FlashAttention-2, batched cuDNN attention, SDPA on the CPU.

Varlen attention runs aten's FlashAttention-2 ops with cu_seqlens (`_FlashVarlen`), with grouped K/V as they
are (no repeat_interleave copies, nor their saved larger K/V); when every sequence of a micro-batch has the same
length (`dense_ok`), one batched SDPA call on cuDNN's fused attention; per-sample SDPA elsewhere (CPU tests).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F


class _FlashVarlen(torch.autograd.Function):
    """Causal FlashAttention-2 over packed sequences: aten's own varlen kernels, forward and backward.

    torch.nn.attention.varlen.varlen_attn wraps the same two ops, but torch 2.11's version repeats K/V for
    grouped-query attention (4x the saved K/V, and their gradients summed back) where the kernels take grouped
    K/V directly; importing it also costs start-up time. q: (N, H, hd); k, v: (N, KV, hd), H a multiple of KV.
    """

    @staticmethod
    def forward(ctx, q, k, v, cu, max_len):
        # (query, key, value, cu_q, cu_k, max_q, max_k, dropout_p, is_causal, return_debug_mask)
        out, lse, rng, unused, _ = torch.ops.aten._flash_attention_forward(
            q, k, v, cu, cu, max_len, max_len, 0.0, True, False)
        ctx.save_for_backward(q, k, v, out, lse, cu, rng, unused)
        ctx.max_len = max_len
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, out, lse, cu, rng, unused = ctx.saved_tensors
        dq, dk, dv = torch.ops.aten._flash_attention_backward(
            grad.contiguous(), q, k, v, out, lse, cu, cu, ctx.max_len, ctx.max_len, 0.0, True, rng, unused)
        return dq, dk, dv, None, None


class _SharedPromptFlash(torch.autograd.Function):
    """Varlen FlashAttention-2 over the expanded rows of shared_prompt.py's layout, on the unique tokens' q/k/v.

    q: (N, H, hd), k, v: (N, KV, hd) per unique token; expand (E,): the unique token of each expanded row token;
    pick (N,): the expanded token each unique token's output comes from; cu: the expanded documents' bounds.
    Returns (N, H, hd). Saved for backward: the unique q/k/v and the output, not their expanded copies:
    backward gathers them again, and takes the expanded output as output[expand]. That equals the forward's
    expanded output wherever the output gradient is non-zero (the picked tokens), and the kernel reads the
    output only through rowsum(dO * O), which is 0 where dO is (a prefix's second copy): so the gradients are
    exactly the gather / attention / pick chain's, with a block's saved attention memory per unique token.
    """

    @staticmethod
    def forward(ctx, q, k, v, expand, pick, cu, max_len):
        qe, ke, ve = (t.index_select(0, expand) for t in (q, k, v))
        out, lse, rng, unused, _ = torch.ops.aten._flash_attention_forward(
            qe, ke, ve, cu, cu, max_len, max_len, 0.0, True, False)
        y = out.index_select(0, pick)  # (N, H, hd)
        ctx.save_for_backward(q, k, v, y, lse, expand, pick, cu, rng, unused)
        ctx.max_len = max_len
        return y

    @staticmethod
    def backward(ctx, grad):
        q, k, v, y, lse, expand, pick, cu, rng, unused = ctx.saved_tensors
        qe, ke, ve = (t.index_select(0, expand) for t in (q, k, v))
        out = y.index_select(0, expand)
        # Summed, not copied: padding tokens of a CUDA-graph layout may pick the same slot (their gradient is 0).
        g = torch.zeros((expand.shape[0],) + tuple(grad.shape[1:]), dtype=grad.dtype, device=grad.device)
        g.index_add_(0, pick, grad)
        dq, dk, dv = torch.ops.aten._flash_attention_backward(
            g, qe, ke, ve, out, lse, cu, cu, ctx.max_len, ctx.max_len, 0.0, True, rng, unused)
        # A prefix token's q/k/v serve two rows: their gradients add (two addends: the same sum in any order).
        back = [torch.zeros_like(t).index_add_(0, expand, d) for t, d in ((q, dq), (k, dk), (v, dv))]
        return back[0], back[1], back[2], None, None, None, None


def shared_prompt_attention(q, k, v, expand, pick, cu_seqlens, max_len: int, dense: bool = True):
    """attention() over the expanded rows of shared_prompt.py's layout, for the unique tokens: q (N, H, hd),
    k, v (N, KV, hd) -> (N, H, hd). On CUDA one varlen FlashAttention Function (_SharedPromptFlash); elsewhere
    the gather, attention() and the pick under autograd (the same gradients)."""
    H, KV = q.shape[1], k.shape[1]
    flash_ok = q.dtype in (torch.float16, torch.bfloat16) and q.shape[-1] <= 256 and q.shape[-1] % 8 == 0
    if q.is_cuda and flash_ok and H % KV == 0 and torch.is_grad_enabled():
        return _SharedPromptFlash.apply(q, k, v, expand, pick, cu_seqlens, int(max_len))
    q, k, v = q.index_select(0, expand), k.index_select(0, expand), v.index_select(0, expand)
    return attention(q, k, v, cu_seqlens, max_len, dense).index_select(0, pick)


def _dense_attention(q, k, v, L: int):
    """Causal attention over N // L sequences of exactly L tokens each, as one (B, H, L, hd) SDPA call on cuDNN's
    fused attention (Hopper-tuned: 0.32 vs FlashAttention-2's 0.40 ms forward + backward per 8B layer at
    2 x 1024 on an H200, grouped K/V native, no dK/dV reduction kernels). Views only:
    (N, heads, hd) is (B, L, heads, hd) in memory."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    N, H, hd = q.shape
    B, KV = N // L, k.shape[1]
    qd = q.view(B, L, H, hd).transpose(1, 2)  # (B, H, L, hd)
    kd, vd = (t.view(B, L, KV, hd).transpose(1, 2) for t in (k, v))  # (B, KV, L, hd)
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]):
        o = F.scaled_dot_product_attention(qd, kd, vd, is_causal=True, enable_gqa=H != KV)  # (B, H, L, hd)
    return o.transpose(1, 2).reshape(N, H, hd)


def dense_ok(N: int, n_seqs: int, max_len: int, enabled: bool = True) -> bool:
    """Whether a packed micro-batch is n_seqs sequences of exactly max_len tokens: N == n_seqs * max_len (every
    sequence is at most max_len long, so equality leaves no room for a shorter one, zero-length ones included).
    Fixed-length data (workload 1, pretraining-style rows) then runs as plain batched attention, up to
    DENSE_MAX_LEN tokens a sequence. enabled=False (FastPathOptions.dense_attention) keeps the varlen kernels."""
    return enabled and N == n_seqs * max_len and max_len <= DENSE_MAX_LEN


# Measured at 1,024 (attn_bench, H200); longer sequences (long-context runs) keep the varlen kernels, as measured.
DENSE_MAX_LEN = 16384


def attention(q, k, v, cu_seqlens, max_len: int, dense: bool = True):
    """Causal attention within each packed sample. q: (N, H, hd); k, v: (N, KV, hd) -> (N, H, hd).
    dense=False: never the batched cuDNN kernel (dense_ok), always varlen."""
    H, KV = q.shape[1], k.shape[1]
    # FlashAttention takes fp16/bf16 and head_dim a multiple of 8 up to 256; anything else (fp32 runs) falls back.
    flash_ok = q.dtype in (torch.float16, torch.bfloat16) and q.shape[-1] <= 256 and q.shape[-1] % 8 == 0
    if q.is_cuda and flash_ok and H % KV == 0:
        if dense_ok(q.shape[0], cu_seqlens.shape[0] - 1, int(max_len), dense):
            return _dense_attention(q, k, v, int(max_len))
        return _FlashVarlen.apply(q, k, v, cu_seqlens, int(max_len))
    # Fallback (CPU, fp32): SDPA per sample.
    out = torch.empty_like(q)
    bounds = cu_seqlens.tolist()
    for s, e in zip(bounds, bounds[1:]):
        if e == s:  # zero-length sequence (fast/graph.py pads cu_seqlens with them)
            continue
        qs, ks, vs = (t[s:e].transpose(0, 1)[None] for t in (q, k, v))  # (1, heads, L, hd)
        y = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=H != KV)  # (1, H, L, hd)
        out[s:e] = y[0].transpose(0, 1)
    return out
