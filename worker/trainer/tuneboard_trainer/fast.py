"""GPU fast path for LoRA training: padding-free packing, varlen attention, cheaper LoRA, selective recompute.

The reference path (train.forward_batch + model.lm_loss) stays the definition of what a step computes; this
module computes the same loss over the same tokens faster:

* Padding-free packing. All samples of one optimizer step (the gradient-accumulation window) are laid end to
  end in one (N,) token stream per micro-batch, split only at sample boundaries and at `max_tokens`. Each sample
  keeps its own positions (restarting at 0) and attends only to itself, so no padding is computed and every
  step has few, large GEMMs instead of many small padded ones. The caller normalises by the window's labelled
  token count exactly as before, so the loss (a per-token mean over the window) is unchanged.
* Varlen attention: FlashAttention-2 with cu_seqlens through the aten op itself (`_FlashVarlen`), with grouped K/V
  as they are (no repeat_interleave copies, nor their saved 4x-larger K/V); batched cuDNN attention when every
  sequence of a micro-batch has the same length (`dense_ok`); per-sample SDPA on the CPU (tests).
* Fused projections: q/k/v and gate/up each run as one GEMM against their concatenated frozen weight (the
  modules' weights become views of it: no extra memory). Their LoRA terms come without fp32 activation copies:
  the fp32 master adapters are cast down once per call, A stacked (one GEMM), B block-diagonal with the scaling
  folded in, added in place by cuBLAS as the GEMM's beta term (no copy of the output). gate/up and down_proj
  carry their LoRA terms in augmented weights ([W | B], [W ; A]: `augment_mlp`), so one GEMM does both.
* Lean saved activations: autograd Functions (`_NormGroupLoRA`, `_GroupLoRA`, `_MLPLoRA`) keep the residual
  stream and recompute the normed inputs (elementwise) in backward; the SwiGLU product is recomputed too,
  unless nothing else is (then it is kept).
* Recompute planned by memory (`plan_recompute`): first the gate/up products of some blocks (one GEMM each),
  then whole blocks, only as much as the memory budget needs (none when it fits).
* Optional regional torch.compile of the two attention-free halves of a block. The LoRA Functions are traced
  into them (their recompute spelt so that compile keeps no more than they declare), or stay graph breaks with
  compiled elementwise kernels of their own (see FUNCTION_MODE); attention itself stays eager.
* The loss is model._LinearCrossEntropy over labelled positions only (128k-vocabulary logits exist for one
  chunk of rows at a time; compiled, each chunk's softmax and gradient are one fused kernel).

Importable everywhere; `FastPath.supported()` says whether a model qualifies (plain LoRA / rsLoRA, no DoRA,
no sliding window). The train loop uses it only on CUDA unless told otherwise (TrainConfig.fast_path).
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .lora import LoRALinear
from .model import Transformer, _LinearCrossEntropy, compile_ce
from .templates import IGNORE_INDEX



# ------------------------------------------------------------------------------------------ packing


def _segments(b: dict) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) of every sample in a collated batch (padding dropped; packed rows split)."""
    ids, labels, mask = b["input_ids"], b["labels"], b["attention_mask"]
    out = []
    for r in range(ids.shape[0]):
        n = int(mask[r].sum())
        row_ids, row_labels = ids[r, :n].tolist(), labels[r, :n].tolist()
        if "position_ids" in b:  # a packed row (data.pack_examples): positions restart at 0 per sample
            pos = b["position_ids"][r, :n].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [n]
            out += [(row_ids[s:e], row_labels[s:e]) for s, e in zip(starts, starts[1:]) if e > s]
        elif n:
            out.append((row_ids, row_labels))
    return out


def _greedy_groups(segs: list, cap: int) -> list[list]:
    """Consecutive samples, a new group whenever the next one would pass `cap` tokens."""
    groups, cur, cur_n = [], [], 0
    for s in segs:
        if cur and cur_n + len(s[0]) > cap:
            groups.append(cur)
            cur, cur_n = [], 0
        cur.append(s)
        cur_n += len(s[0])
    if cur:
        groups.append(cur)
    return groups


def _balanced_groups(segs: list, max_tokens: int) -> list[list]:
    """As few micro-batches as greedy filling to max_tokens gives, but with the tokens spread evenly.

    Greedy filling leaves a short last micro-batch (4,800 tokens at max 4,096: 4,096 + 704), which costs
    nearly a full launch-bound pass; the smallest cap that still needs no more groups (binary search, order
    kept) gives 2,400 + 2,400. Same samples, same loss: only where the splits fall changes.
    """
    groups = _greedy_groups(segs, max_tokens)
    if len(groups) <= 1:
        return groups
    total = sum(len(s[0]) for s in segs)
    lo, hi = max(-(-total // len(groups)), max(len(s[0]) for s in segs)), max_tokens
    while lo < hi:
        mid = (lo + hi) // 2
        if len(_greedy_groups(segs, mid)) <= len(groups):
            hi = mid
        else:
            lo = mid + 1
    return _greedy_groups(segs, lo)


def pack_window(batches: list[dict], max_tokens: int) -> list[dict]:
    """The samples of `batches` (one optimizer step) as padding-free micro-batches of <= max_tokens tokens.

    Target of position t within a sample = its label at t + 1 (the last position: none), which is exactly
    what lm_loss's shift gives on a padded row (padding and the next packed sample's first label are -100).
    A sample longer than max_tokens gets a micro-batch of its own. Micro-batches are balanced in length
    (`_balanced_groups`).
    """
    segs = [s for b in batches for s in _segments(b)]
    groups = _balanced_groups(segs, max_tokens)
    out = []
    for g in groups:
        ids, pos, tgt, cu = [], [], [], [0]
        for s_ids, s_labels in g:
            ids += s_ids
            pos += range(len(s_ids))
            tgt += s_labels[1:] + [IGNORE_INDEX]
            cu.append(cu[-1] + len(s_ids))
        N = len(ids)
        out.append({
            "input_ids": torch.tensor(ids, dtype=torch.long)[None],  # (1, N)
            "position_ids": torch.tensor(pos, dtype=torch.long),  # (N,)
            "targets": torch.tensor(tgt, dtype=torch.long),  # (N,) next-token label, -100 = none
            "cu_seqlens": torch.tensor(cu, dtype=torch.int32),  # (samples + 1,)
            "max_len": max(len(s[0]) for s in g),
            # The train loop counts tokens from these (all real) and labelled positions from "labels".
            "attention_mask": torch.ones((1, N), dtype=torch.long),
            "labels": torch.tensor([IGNORE_INDEX] + tgt[:-1], dtype=torch.long)[None],  # (1, N)
        })
    return out


# ------------------------------------------------------------------------------------------ pieces


class _RMSNormFrozen(torch.autograd.Function):
    """model.RMSNorm's forward (fp32 normalisation, cast back, then the weight multiply) for a frozen weight,
    keeping only x (activation dtype) and rstd (N, 1) fp32 for backward instead of autograd's fp32 copies of x."""

    @staticmethod
    def forward(ctx, x, w, eps):
        h, rstd = _rms_fwd(x, w, eps)  # rstd: (..., 1)
        ctx.save_for_backward(x, w, rstd)
        return h

    @staticmethod
    def backward(ctx, g):
        x, w, rstd = ctx.saved_tensors
        return _rms_bwd(g, x, w, rstd), None, None


def rms_norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # As model.RMSNorm: normalise in fp32, cast back, then the weight multiply.
    if not norm.weight.requires_grad and torch.is_grad_enabled():
        return _RMSNormFrozen.apply(x, norm.weight, norm.eps)
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + norm.eps)
    return norm.weight * xf.to(x.dtype)


def _mm_add_nt(x, W, c, B):
    """x W^T + c B^T, the second product added in place by cuBLAS as the first's beta term.

    torch.addmm(x W^T, c, B^T) (the obvious form) copies its input matrix into a fresh output first: on the
    8B step that copy was 4.3 ms of 130 (performance-notes.md § 9). Written in place here; under torch.compile
    this runs as an opaque custom op (compile_pointwise), so inductor cannot turn it back into the copying
    out-of-place addmm. x: (N, K); W: (O, K); c: (N, R); B: (O, R)."""
    return torch.mm(x, W.t()).addmm_(c, B.t())  # (N, O)


def _mm_add_nn(g, W, d, A):
    """g W + d A, as _mm_add_nt (in place). g: (N, O); W: (O, K); d: (N, R); A: (R, K)."""
    return torch.mm(g, W).addmm_(d, A)  # (N, K)


def _aug_nt(x, c, M):
    """[x | c] M^T for an augmented weight M = [W | B] (O, K + R): x W^T + c B^T as ONE GEMM over K + R.

    Where the output is much wider than the input (gate/up: 28,672 vs 4,096 columns at 8B) adding c B^T as a
    beta term costs a read and a write of the whole output; concatenating along K costs a copy of the input
    (and 0.4 % more GEMM) instead. x: (N, K); c: (N, R); M: (O, K + R)."""
    return torch.mm(torch.cat([x, c], dim=1), M.t())  # (N, O)


def _aug_nn(g, d, M):
    """[g | d] M for an augmented weight M = [W ; A] (O + R, K): g W + d A as one GEMM over O + R (down_proj's
    input gradient, (N, 14,336) at 8B, from a (N, 4,096) gradient). g: (N, O); d: (N, R); M: (O + R, K)."""
    return torch.mm(torch.cat([g, d], dim=1), M)  # (N, K)


def _aug_out_nt(x, M, B):
    """(x W^T + xa B^T, xa = x A^T) with M = [W ; A] (O + R, K): ONE GEMM gives x W^T and xa side by side
    (the separate xa GEMM read all of x again: 18 us a block for down_proj's (N, 14,336) input at 8B), then
    the beta-term GEMM adds xa B^T in place. Returns (ext (N, O + R), xa (N, R)); the output is ext[:, :O]
    (a view), xa a copy that can be saved without keeping ext. x: (N, K); B: (O, R)."""
    R = B.shape[1]
    ext = torch.mm(x, M.t())  # (N, O + R) = [x W^T | x A^T]
    xa = ext[:, ext.shape[1] - R :].clone()  # (N, R)
    ext[:, : ext.shape[1] - R].addmm_(xa, B.t())
    return ext, xa


def _aug_grad_nn(g, M, A):
    """(g W + d_xa A, d_xa = g B) with M = [W | B] (O, K + R): one GEMM gives g W and d_xa side by side (the
    separate d_xa GEMM read all of g again: 35 us a block for gate/up's (N, 28,672) gradient at 8B), then
    d_xa A is added in place. Returns (ext (N, K + R), d_xa (N, R)); dx is ext[:, :K]. g: (N, O); A: (R, K)."""
    K = A.shape[1]
    ext = torch.mm(g, M)  # (N, K + R) = [g W | g B]
    d_xa = ext[:, K:].clone()  # (N, R)
    ext[:, :K].addmm_(d_xa, A)
    return ext, d_xa


def _lora_fwd(x, W, A, B):
    """(x W^T + (x A^T) B^T, xa = x A^T): a frozen linear plus its LoRA term, B's product added by cuBLAS as the
    GEMM's beta term (no add kernel, no copy). W: (O, D) frozen; A: (R, D); B: (O, R), scaling folded in; xa is
    what backward needs for B's gradient. No in-place ops on tensors torch.compile can see: a first version of
    these Functions with them (and None among the saved tensors) compiled to wrong LoRA gradients on torch 2.11
    (performance-notes.md § 8.3); the in-place GEMM lives inside _Kernels.mm_add_nt (an opaque op there)."""
    xa = F.linear(x, A)  # (N, R)
    return _Kernels.mm_add_nt(x, W, xa, B), xa  # (N, O), (N, R)


def _lora_bwd(g, W, A, B, xa):
    """(dx, d_xa, d_B) for _lora_fwd's output gradient g (N, O); A's gradient is d_xa^T x (the caller has x)."""
    g = g.contiguous()
    d_b = g.t() @ xa  # (O, R)
    d_xa = g @ B  # (N, R)
    return _Kernels.mm_add_nn(g, W, d_xa, A), d_xa, d_b  # dx (N, D) = g W + d_xa A


class _SwiGLUDownLoRA(torch.autograd.Function):
    """down_proj(silu(g) * u) with its LoRA term, keeping only gate_up = [g | u] for backward.

    Eager autograd keeps g, silu(g), u and the product h (4 x intermediate per token); here h is recomputed in
    backward (one elementwise pass) for the LoRA A gradient. gu: (N, 2I), the fused gate/up output; W: frozen (out, I);
    A: (r, I); Bs: scaled B (out, r), both already in the activation dtype (their casts from the fp32 masters
    stay in the graph).
    """

    @staticmethod
    def forward(ctx, gu, W, A, Bs):
        out, xa = _lora_fwd(_swiglu(gu), W, A, Bs)  # (N, out), (N, r)
        ctx.save_for_backward(gu, W, A, Bs, xa)
        return out

    @staticmethod
    def backward(ctx, grad):
        gu, W, A, Bs, xa = ctx.saved_tensors
        dh, d_xa, d_bs = _lora_bwd(grad, W, A, Bs, xa)  # (N, I), (N, r), (out, r)
        d_gu, h = _swiglu_bwd(dh, gu)  # (N, 2I); h = silu(g) * u recomputed exactly as in forward
        return d_gu, None, d_xa.t() @ h, d_bs  # d_A: (r, I)


class _GroupLoRA(torch.autograd.Function):
    """One GEMM against the concatenated frozen weight of projections that read the same input (o alone, or
    q/k/v and gate/up after _NormGroupLoRA's norm), plus all their LoRA terms: A stacked (one GEMM), B
    block-diagonal (one GEMM, added by cuBLAS as the beta term of the output: no separate add kernel).

    x: (N, D); W: (O, D) frozen; A: (R, D) stacked LoRA A; B: (O, R) block-diagonal with the scaling folded
    in; A and B already in x's dtype. Saved for backward: x and xa (N, R).
    """

    @staticmethod
    def forward(ctx, x, W, A, B):
        out, xa = _lora_fwd(x, W, A, B)  # (N, O), (N, R)
        ctx.save_for_backward(x, W, A, B, xa)
        return out

    @staticmethod
    def backward(ctx, g):
        x, W, A, B, xa = ctx.saved_tensors
        dx, d_xa, d_b = _lora_bwd(g, W, A, B, xa)  # d_b (O, R): block_diag's backward keeps the diagonal blocks
        return dx, None, d_xa.t() @ x, d_b


# ------------------------------------------------------------------------------------------ pointwise kernels
# The elementwise parts of _NormGroupLoRA and _MLPLoRA, as plain functions: eager by default, each one fused
# Triton kernel once compile_pointwise() has run (FastPath(compile=True)). The Functions themselves are then
# kept out of torch.compile's regions: traced into a region, AOTAutograd's joint-graph CSE merges their
# backward's recomputation (the normed input; gate/up) with the forward's, so those tensors are kept after all.


def _rms_fwd(x, nw, eps: float):
    """model.RMSNorm for a frozen weight: (normed x in x's dtype, rstd (N, 1) fp32)."""
    xf = x.float()
    rstd = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)  # (N, 1)
    return nw * (xf * rstd).to(x.dtype), rstd


def _rms_h(x, nw, rstd):
    """The normed input again from x and rstd, bit for bit as _rms_fwd, but written differently on purpose:
    traced into a compiled region, an identical expression would be merged with the forward's by AOTAutograd's
    common-subexpression elimination, and the normed input would be kept for backward after all (x * rstd
    promotes x to fp32 exactly as x.float() does; the weight multiply commutes)."""
    return (x * rstd).to(x.dtype) * nw


def _rms_bwd(dh, x, nw, rstd):
    """dx for a frozen-weight RMSNorm: d(xf * rstd)/dxf = rstd I - xf rstd^3 xf^T / D (as _RMSNormFrozen)."""
    xf = x.float()
    gw = (dh * nw).float()
    return (rstd * gw - xf * (rstd.pow(3) * (gw * xf).mean(-1, keepdim=True))).to(x.dtype)


def _swiglu(gu):
    """silu(g) * u for gu = [g | u] (N, 2I) -> (N, I)."""
    g, u = gu.chunk(2, dim=-1)
    return F.silu(g) * u


def _swiglu_bwd(dhh, gu):
    """(d[g | u], silu(g) * u): the ops eager autograd runs for silu(g) * u (aten.silu_backward computes in
    fp32 inside one kernel: no fp32 (N, I) temporaries), and the product again for the LoRA A gradient.
    Compiled, silu is spelt g * sigmoid(g) here, unlike the forward's F.silu, so that a compiled region cannot
    merge the two and keep silu(g) (2 bytes x I per token) for backward (the values agree to rounding); eager,
    F.silu (one (N, I) temporary, not two: 6.6 GiB at a 245,760-token long-context step)."""
    g, u = gu.chunk(2, dim=-1)
    s = _silu_again(g)
    return torch.cat([torch.ops.aten.silu_backward(dhh * u, g), dhh * s], dim=-1), u * s


def _silu_again(g):
    """silu(g) in backward: g * sigmoid(g) under torch.compile (no CSE with the forward's F.silu), else F.silu."""
    return g * torch.sigmoid(g) if torch.compiler.is_compiling() else F.silu(g)


def _swiglu_dgrad(dhh, gu):
    """d[g | u] alone (_swiglu_bwd without the product, when the forward kept it)."""
    g, u = gu.chunk(2, dim=-1)
    return torch.cat([torch.ops.aten.silu_backward(dhh * u, g), dhh * _silu_again(g)], dim=-1)


class _Kernels:
    rms_fwd, rms_h, rms_bwd, swiglu, swiglu_bwd = _rms_fwd, _rms_h, _rms_bwd, _swiglu, _swiglu_bwd
    swiglu_dgrad = _swiglu_dgrad
    mm_add_nt, mm_add_nn, aug_nt, aug_nn = _mm_add_nt, _mm_add_nn, _aug_nt, _aug_nn
    aug_out_nt, aug_grad_nn = _aug_out_nt, _aug_grad_nn
    compiled = False


_GEMM_OPS: dict = {}


def _gemm_ops() -> dict:
    """The GEMM helpers as torch.library custom ops (made once per process): opaque to torch.compile, which would
    otherwise rewrite the in-place beta-term GEMMs as out-of-place addmm (a copy of the output each) and could
    merge a recomputing backward's GEMM with the forward's. Tensors reach them with their strides as they are."""
    if _GEMM_OPS:
        return _GEMM_OPS
    specs = {
        "mm_add_nt": (_mm_add_nt, "(Tensor x, Tensor W, Tensor c, Tensor B) -> Tensor",
                      lambda x, W, c, B: x.new_empty((x.shape[0], W.shape[0]))),
        "mm_add_nn": (_mm_add_nn, "(Tensor g, Tensor W, Tensor d, Tensor A) -> Tensor",
                      lambda g, W, d, A: g.new_empty((g.shape[0], W.shape[1]))),
        "aug_nt": (_aug_nt, "(Tensor x, Tensor c, Tensor M) -> Tensor",
                   lambda x, c, M: x.new_empty((x.shape[0], M.shape[0]))),
        "aug_nn": (_aug_nn, "(Tensor g, Tensor d, Tensor M) -> Tensor",
                   lambda g, d, M: g.new_empty((g.shape[0], M.shape[1]))),
        "aug_out_nt": (_aug_out_nt, "(Tensor x, Tensor M, Tensor B) -> (Tensor, Tensor)",
                       lambda x, M, B: (x.new_empty((x.shape[0], M.shape[0])), x.new_empty((x.shape[0], B.shape[1])))),
        "aug_grad_nn": (_aug_grad_nn, "(Tensor g, Tensor M, Tensor A) -> (Tensor, Tensor)",
                        lambda g, M, A: (g.new_empty((g.shape[0], M.shape[1])), g.new_empty((g.shape[0], A.shape[0])))),
    }
    for name, (fn, schema, fake) in specs.items():
        op = torch.library.custom_op(f"tuneboard::{name}", fn, mutates_args=(), schema=schema)
        op.register_fake(fake)
        _GEMM_OPS[name] = op
    return _GEMM_OPS


def compile_pointwise() -> None:
    """Swap the pointwise helpers for torch.compile'd ones (dynamic shapes: one compile for all token counts),
    and make the Functions' graph-break wrappers (FUNCTION_MODE)."""
    if _Kernels.compiled:
        return
    for f in (_GroupLoRA, _NormGroupLoRA, _MLPLoRA):
        _DISABLED_APPLY[f] = torch.compiler.disable(f.apply)
    for name, fn in (("rms_fwd", _rms_fwd), ("rms_h", _rms_h), ("rms_bwd", _rms_bwd), ("swiglu", _swiglu),
                     ("swiglu_bwd", _swiglu_bwd), ("swiglu_dgrad", _swiglu_dgrad)):
        setattr(_Kernels, name, staticmethod(torch.compile(fn, dynamic=True)))
    for name, op in _gemm_ops().items():
        setattr(_Kernels, name, staticmethod(op))
    compile_ce()  # the loss's per-chunk softmax / cross-entropy / gradient as one fused kernel
    _Kernels.compiled = True


class _NormGroupLoRA(torch.autograd.Function):
    """_GroupLoRA of RMSNorm(x) (frozen norm weight nw, as model.RMSNorm: normalise in fp32, cast back, then
    the weight multiply). Saved for backward: x, the norm's rstd (N, 1) fp32 and xa; the normed input, which
    autograd would keep (2 bytes x D per token, per group), is recomputed from x and rstd in backward."""

    @staticmethod
    def forward(ctx, x, nw, eps, W, A, B):
        h, rstd = _Kernels.rms_fwd(x, nw, eps)  # (N, D), (N, 1)
        out, xa = _lora_fwd(h, W, A, B)  # (N, O), (N, R)
        ctx.save_for_backward(x, nw, rstd, W, A, B, xa)
        return out

    @staticmethod
    def backward(ctx, g):
        x, nw, rstd, W, A, B, xa = ctx.saved_tensors
        dh, d_xa, d_b = _lora_bwd(g, W, A, B, xa)  # (N, D), (N, R), (O, R)
        d_a = d_xa.t() @ _Kernels.rms_h(x, nw, rstd)  # (R, D), the normed input recomputed
        return _Kernels.rms_bwd(dh, x, nw, rstd), None, None, None, d_a, d_b


class _MLPLoRA(torch.autograd.Function):
    """The MLP half of a block, one Function: RMSNorm, gate/up (one GEMM against their fused weight, LoRA A
    stacked, B block-diagonal), SwiGLU, down_proj with its LoRA. The residual add stays outside.

    W_gu is gate/up's fused weight (2I, D), or augmented with LoRA B as extra columns [W | B] (2I, D + R):
    then gate/up and their LoRA term are one GEMM (_aug_nt). W_d is down_proj's weight (D, I), or augmented
    with its LoRA A as extra rows [W ; A] (D + r, I): then its input gradient is one GEMM (_aug_nn). The
    augmented columns/rows are refreshed from the adapters before each forward (refresh_augmented); A_gu,
    B_gu, A_d, B_d are the same values in the activation dtype, the tensors their gradients go to.

    Saved for backward: x (the residual stream), rstd (N, 1), the small LoRA products xa_gu (N, 2r) and
    xa_d (N, r), and gate_up = [g | u] (N, 2I), unless `recompute`: then gate_up, 4 x intermediate bytes per
    token (56 KB at 8B, half of a block's activations), is recomputed in backward from x with one GEMM (about
    a quarter of the block's forward FLOPs), a cheaper way to save memory than recomputing the whole block.
    keep_product (when memory is ample: FastPath.keep_product): the SwiGLU product silu(g) * u (N, I) is kept
    too instead of being recomputed for down_proj's LoRA A gradient (1.3 ms of an 8B step at 2 x 1024).
    """

    @staticmethod
    def forward(ctx, x, nw, eps, W_gu, A_gu, B_gu, W_d, A_d, B_d, recompute, keep_product):
        D = x.shape[-1]
        h, rstd = _Kernels.rms_fwd(x, nw, eps)  # (N, D), (N, 1)
        xa_gu = F.linear(h, A_gu)  # (N, 2r)
        gu = _gate_up(h, xa_gu, W_gu, B_gu)  # (N, 2I) = [g | u]
        s = _Kernels.swiglu(gu)  # (N, I)
        if W_d.shape[0] > D:  # augmented [W ; A]: s W^T and xa_d = s A^T from one GEMM
            ext, xa_d = _Kernels.aug_out_nt(s, W_d, B_d)  # (N, D + r), (N, r)
            out = ext[:, :D]  # (N, D)
        else:
            xa_d = F.linear(s, A_d)  # (N, r)
            out = _Kernels.mm_add_nt(s, W_d, xa_d, B_d)  # (N, D)
        saved = [x, nw, rstd, W_gu, A_gu, B_gu, W_d, A_d, B_d, xa_gu, xa_d]
        if not recompute:
            saved.append(gu)
            if keep_product:  # 2 bytes x I per token more, one elementwise pass less in backward
                saved.append(s)
        ctx.save_for_backward(*saved)
        ctx.recompute, ctx.keep_product = recompute, keep_product and not recompute
        return out

    @staticmethod
    def backward(ctx, grad):
        x, nw, rstd, W_gu, A_gu, B_gu, W_d, A_d, B_d, xa_gu, xa_d, *kept = ctx.saved_tensors
        D = x.shape[-1]
        h = _Kernels.rms_h(x, nw, rstd)  # recomputed, exactly as in forward
        # gate_up again from h and the kept LoRA product (one GEMM), when it was not kept
        gu = _gate_up(h, xa_gu, W_gu, B_gu) if ctx.recompute else kept[0]
        grad = grad.contiguous()
        d_bd = grad.t() @ xa_d  # (D, r)
        d_xad = grad @ B_d  # (N, r)
        if W_d.shape[0] > D:  # augmented [W ; A]: grad W + d_xad A in one GEMM
            dhh = _Kernels.aug_nn(grad, d_xad, W_d)  # (N, I)
        else:
            dhh = _Kernels.mm_add_nn(grad, W_d, d_xad, A_d)  # (N, I)
        if ctx.keep_product:
            d_gu, hh = _Kernels.swiglu_dgrad(dhh, gu), kept[1]  # (N, 2I), (N, I)
        else:
            d_gu, hh = _Kernels.swiglu_bwd(dhh, gu)  # (N, 2I), (N, I)
        d_ad = d_xad.t() @ hh  # (r, I)
        # gate/up; d_bgu (2I, R): block_diag's backward keeps the diagonal blocks
        if W_gu.shape[1] > D:  # augmented [W | B]: d_gu W and d_xagu = d_gu B from one GEMM
            d_bgu = d_gu.t() @ xa_gu  # (2I, R)
            ext, d_xagu = _Kernels.aug_grad_nn(d_gu, W_gu, A_gu)  # (N, D + R), (N, R)
            dh = ext[:, :D]  # (N, D)
        else:
            dh, d_xagu, d_bgu = _lora_bwd(d_gu, W_gu, A_gu, B_gu, xa_gu)  # (N, D), (N, R), (2I, R)
        d_agu = d_xagu.t() @ h  # (R, D)
        return (_Kernels.rms_bwd(dh, x, nw, rstd), None, None, None, d_agu, d_bgu, None, d_ad, d_bd, None,
                None)


def _gate_up(h, xa, W_gu, B_gu):
    """gate/up with their LoRA term: one GEMM over [h | xa] against the augmented weight, or the beta-term form."""
    if W_gu.shape[1] > h.shape[-1]:
        return _Kernels.aug_nt(h, xa, W_gu)  # (N, 2I)
    return _Kernels.mm_add_nt(h, W_gu, xa, B_gu)  # (N, 2I)


def augment_mlp(mlp: nn.Module) -> bool:
    """Give a fused MLP (fuse_weights) augmented weights for _MLPLoRA: gate/up's [W | B] (2I, D + R) and
    down_proj's [W ; A] (D + r, I). The modules' weights become views of them (no extra memory beyond the
    R columns / r rows); the LoRA parts are written by refresh_augmented before each forward. False when the
    MLP does not qualify (as _post_attn's fused MLP path: LoRA on all three, no dropout, DoRA or biases)."""
    if hasattr(mlp, "_tb_gate_up_aug"):
        return True
    mods = [mlp.gate_proj, mlp.up_proj, mlp.down_proj]
    W = getattr(mlp, "_tb_gate_up", None)
    if (W is None or getattr(mlp, "_tb_gate_up_bias", None) is not None or not _lora_fusable(mods)
            or any(m.use_dora or m.bias is not None for m in mods) or mlp.down_proj.weight.requires_grad
            or mlp.down_proj.weight.dtype != W.dtype):
        return False
    O, D = W.shape
    R = sum(m.rank for m in mods[:2])
    M_gu = torch.zeros((O, D + R), dtype=W.dtype, device=W.device)  # [W | B]
    M_gu[:, :D] = W
    r0 = 0
    for m in mods[:2]:
        m.weight = nn.Parameter(M_gu[r0 : r0 + m.weight.shape[0], :D], requires_grad=False)
        r0 += m.weight.shape[0]
    down = mlp.down_proj
    Wd = down.weight
    M_d = torch.zeros((Wd.shape[0] + down.rank, Wd.shape[1]), dtype=Wd.dtype, device=Wd.device)  # [W ; A]
    M_d[: Wd.shape[0]] = Wd
    down.weight = nn.Parameter(M_d[: Wd.shape[0]], requires_grad=False)
    mlp.register_buffer("_tb_gate_up", M_gu[:, :D], persistent=False)
    mlp.register_buffer("_tb_gate_up_aug", M_gu, persistent=False)
    mlp.register_buffer("_tb_down_aug", M_d, persistent=False)
    return True


@torch.no_grad()
def refresh_augmented(model: Transformer) -> None:
    """Write the adapters' current values into the augmented weights (augment_mlp): gate/up's LoRA B blocks
    (scaled, in the weight dtype) and down_proj's LoRA A. Three small copies per block, before each forward
    (so they are part of a recorded CUDA graph and follow every optimizer step)."""
    for blk in model.model.layers:
        mlp = blk.mlp
        M_gu = getattr(mlp, "_tb_gate_up_aug", None)
        if M_gu is None:
            continue
        D = mlp.gate_proj.weight.shape[1]
        r0, c0 = 0, D
        for m in (mlp.gate_proj, mlp.up_proj):
            O = m.weight.shape[0]
            torch.mul(m.lora_B.weight, m.scaling, out=M_gu[r0 : r0 + O, c0 : c0 + m.rank])
            r0, c0 = r0 + O, c0 + m.rank
        M_d, down = mlp._tb_down_aug, mlp.down_proj
        M_d[down.weight.shape[0] :].copy_(down.lora_A.weight)


# How torch.compile'd regions meet the Functions above (FastPath sets it for its passes):
#   "break": each Function call is a graph break and runs eagerly, with compile_pointwise()'s fused kernels for
#     its elementwise parts: what they save is what they say (least memory);
#   "trace": traced into the regions: one fused code for everything (the default). AOTAutograd's joint-graph
#     CSE used to merge the backward's recomputation (the normed inputs; gate/up; the SwiGLU product) with the
#     forward's and keep those tensors (H200, 8B, 2 x 1024: 24.3 vs 21.5 GiB, docs/performance-notes.md § 8);
#     the recompute is now spelt differently (_rms_h, _swiglu_bwd, the GEMMs as custom ops), and
#     test_traced_functions_keep_no_more_than_eager checks it.
# Read by group_proj/_post_attn at trace time (torch.compile guards on it: switching recompiles once).
# "compiled": whether the pass runs through torch.compile at all; eager passes call the Functions directly.
FUNCTION_MODE = {"trace": False, "compiled": False}
# The graph-break wrappers (torch.compiler.disable), made by compile_pointwise(): making them imports
# torch._dynamo, seconds of start-up that runs without compile (the CPU, short GPU runs) need not pay.
_DISABLED_APPLY: dict = {}


def _function_apply(f):
    if FUNCTION_MODE["trace"] or not FUNCTION_MODE["compiled"]:
        return f.apply
    return _DISABLED_APPLY[f]


def _GROUP_APPLY(*args):
    return _function_apply(_GroupLoRA)(*args)


def _NORM_GROUP_APPLY(*args):
    return _function_apply(_NormGroupLoRA)(*args)


def _MLP_APPLY(*args):
    return _function_apply(_MLPLoRA)(*args)


def fuse_group_weights(mods, owner: nn.Module, name: str) -> bool:
    """Concatenate the frozen weights (and biases) of linears that read the same input into one (O, D) tensor,
    registered on `owner` as a non-persistent buffer `name` (+ `name`_bias), and make each module's weight a
    view of its rows: one GEMM instead of len(mods), no extra memory. False (nothing changed) when the modules
    do not qualify (trainable or mismatched weights)."""
    ws = [m.weight for m in mods]
    if any(w.requires_grad for w in ws) or len({(w.dtype, w.device, w.shape[1]) for w in ws}) != 1:
        return False
    biases = [getattr(m, "bias", None) for m in mods]
    if any(b is not None and b.requires_grad for b in biases) or len({b is None for b in biases}) != 1:
        return False
    W = torch.cat([w.detach() for w in ws])  # (O, D)
    bias = torch.cat([b.detach() for b in biases]) if biases[0] is not None else None
    r0 = 0
    for m, w in zip(mods, ws):
        m.weight = nn.Parameter(W[r0 : r0 + w.shape[0]], requires_grad=False)
        if bias is not None:
            m.bias = nn.Parameter(bias[r0 : r0 + w.shape[0]], requires_grad=False)
        r0 += w.shape[0]
    owner.register_buffer(name, W, persistent=False)
    owner.register_buffer(name + "_bias", bias, persistent=False)
    return True


def fuse_weights(model: Transformer) -> None:
    """fuse_group_weights for q/k/v and gate/up of every block (their weights become views: same memory)."""
    for blk in model.model.layers:
        a, mlp = blk.self_attn, blk.mlp
        if not hasattr(a, "_tb_qkv"):
            fuse_group_weights([a.q_proj, a.k_proj, a.v_proj], a, "_tb_qkv")
        if not hasattr(mlp, "_tb_gate_up"):
            fuse_group_weights([mlp.gate_proj, mlp.up_proj], mlp, "_tb_gate_up")
        if os.environ.get("TUNEBOARD_AUGMENTED_WEIGHTS", "1") != "0":
            augment_mlp(mlp)


def group_proj(x: torch.Tensor, mods, norm: Optional[nn.Module] = None, W: Optional[torch.Tensor] = None,
               bias: Optional[torch.Tensor] = None, split: bool = True) -> list[torch.Tensor]:
    """[m(norm(x)) for m in mods]: through _NormGroupLoRA when it applies (W: the group's fused weight, or the
    single module's own), else the norm and multi_proj. split=False: the fused path returns [one (N, O)
    tensor] with the outputs side by side instead."""
    dt = x.dtype
    if W is None and len(mods) == 1:
        W, bias = mods[0].weight, mods[0].bias
    fusable = (W is not None and torch.is_grad_enabled() and not W.requires_grad
               and (norm is None or not norm.weight.requires_grad)
               and all(isinstance(m.dropout, nn.Identity) and not m.use_dora if isinstance(m, LoRALinear)
                       else isinstance(m, nn.Linear) for m in mods)
               and any(isinstance(m, LoRALinear) for m in mods))
    if not fusable:
        h = x if norm is None else rms_norm(norm, x)
        return multi_proj(h, mods)
    A = torch.cat([m.lora_A.weight for m in mods if isinstance(m, LoRALinear)]).to(dt)  # (R, D)
    blocks = [(m.lora_B.weight * m.scaling).to(dt) if isinstance(m, LoRALinear)
              else torch.zeros((m.weight.shape[0], 0), dtype=dt, device=x.device) for m in mods]
    B = torch.block_diag(*blocks)  # (O, R)
    if norm is None:
        out = _GROUP_APPLY(x, W.to(dt), A, B)  # (N, O)
    else:
        out = _NORM_GROUP_APPLY(x, norm.weight, norm.eps, W.to(dt), A, B)  # (N, O)
    if bias is not None:
        out = out + bias.to(dt)
    return list(out.split([m.weight.shape[0] for m in mods], dim=-1)) if split else [out]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (N, heads, hd); cos/sin: (N, 1, hd). Rotate-half convention, as model.apply_rope.
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def _lora_fusable(mods) -> bool:
    return all(isinstance(m, LoRALinear) and isinstance(m.dropout, nn.Identity) for m in mods)


def multi_proj(x: torch.Tensor, mods) -> list[torch.Tensor]:
    """[m(x) for m in mods] for linears that read the same input; their LoRA A products are one GEMM.

    No fp32 copy of x: the fp32 master adapters are cast down instead (r x in: tiny), and B carries the
    scaling, so the LoRA term is two bf16 GEMMs plus the add (same math as LoRALinear.forward).
    """
    dt = x.dtype
    outs = [F.linear(x, m.weight.to(dt), None if m.bias is None else m.bias.to(dt)) for m in mods]
    if _lora_fusable(mods):
        A = torch.cat([m.lora_A.weight for m in mods]).to(dt)  # (sum r, in)
        xa = F.linear(x, A)  # (N, sum r)
        r0 = 0
        for i, m in enumerate(mods):
            B = (m.lora_B.weight * m.scaling).to(dt)  # (out, r)
            outs[i] = outs[i] + F.linear(xa[:, r0 : r0 + m.rank], B)
            r0 += m.rank
        return outs
    for i, m in enumerate(mods):
        if isinstance(m, LoRALinear):
            xd = m.dropout(x)
            outs[i] = outs[i] + F.linear(F.linear(xd, m.lora_A.weight.to(dt)), (m.lora_B.weight * m.scaling).to(dt))
    return outs


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


def _dense_attention(q, k, v, L: int):
    """Causal attention over N // L sequences of exactly L tokens each, as one (B, H, L, hd) SDPA call on cuDNN's
    fused attention (Hopper-tuned: 0.32 vs FlashAttention-2's 0.40 ms forward + backward per 8B layer at
    2 x 1024 on an H200, grouped K/V native, no dK/dV reduction kernels; performance-notes.md § 9). Views only:
    (N, heads, hd) is (B, L, heads, hd) in memory."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    N, H, hd = q.shape
    B, KV = N // L, k.shape[1]
    qd = q.view(B, L, H, hd).transpose(1, 2)  # (B, H, L, hd)
    kd, vd = (t.view(B, L, KV, hd).transpose(1, 2) for t in (k, v))  # (B, KV, L, hd)
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]):
        o = F.scaled_dot_product_attention(qd, kd, vd, is_causal=True, enable_gqa=H != KV)  # (B, H, L, hd)
    return o.transpose(1, 2).reshape(N, H, hd)


def dense_ok(N: int, n_seqs: int, max_len: int) -> bool:
    """Whether a packed micro-batch is n_seqs sequences of exactly max_len tokens: N == n_seqs * max_len (every
    sequence is at most max_len long, so equality leaves no room for a shorter one, zero-length ones included).
    Fixed-length data (workload 1, pretraining-style rows) then runs as plain batched attention, up to
    DENSE_MAX_LEN tokens a sequence. TUNEBOARD_DENSE_ATTENTION=0 keeps the varlen kernels."""
    return (N == n_seqs * max_len and max_len <= DENSE_MAX_LEN
            and os.environ.get("TUNEBOARD_DENSE_ATTENTION", "1") != "0")


# Measured at 1,024 (attn_bench, H200); longer sequences (long-context runs) keep the varlen kernels, as measured.
DENSE_MAX_LEN = 16384


def attention(q, k, v, cu_seqlens, max_len: int, positions: Optional[torch.Tensor] = None):
    """Causal attention within each packed sample. q: (N, H, hd); k, v: (N, KV, hd) -> (N, H, hd)."""
    H, KV = q.shape[1], k.shape[1]
    # FlashAttention takes fp16/bf16 and head_dim a multiple of 8 up to 256; anything else (fp32 runs) falls back.
    flash_ok = q.dtype in (torch.float16, torch.bfloat16) and q.shape[-1] <= 256 and q.shape[-1] % 8 == 0
    if q.is_cuda and flash_ok and H % KV == 0:
        if dense_ok(q.shape[0], cu_seqlens.shape[0] - 1, int(max_len)):
            return _dense_attention(q, k, v, int(max_len))
        return _FlashVarlen.apply(q, k, v, cu_seqlens, int(max_len))
    # Fallback (CPU, fp32): SDPA per sample.
    out = torch.empty_like(q)
    bounds = cu_seqlens.tolist()
    for s, e in zip(bounds, bounds[1:]):
        if e == s:  # zero-length sequence (fast_graph.py pads cu_seqlens with them)
            continue
        qs, ks, vs = (t[s:e].transpose(0, 1)[None] for t in (q, k, v))  # (1, heads, L, hd)
        y = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=H != KV)  # (1, H, L, hd)
        out[s:e] = y[0].transpose(0, 1)
    return out


def _pre_attn(blk, x, cos, sin):
    """Norm, q/k/v projections (+ LoRA), Qwen3 q/k norm, RoPE. x: (N, D) -> q (N, H, hd), k, v (N, KV, hd)."""
    a = blk.self_attn
    N = x.shape[0]
    q, k, v = group_proj(x, [a.q_proj, a.k_proj, a.v_proj], blk.input_layernorm, getattr(a, "_tb_qkv", None),
                         getattr(a, "_tb_qkv_bias", None))
    q = q.view(N, a.n_heads, a.hd)  # (N, H, hd)
    k = k.view(N, a.n_kv, a.hd)  # (N, KV, hd)
    v = v.contiguous().view(N, a.n_kv, a.hd)  # (N, KV, hd); a copy, so backward does not keep all of q/k/v
    if a.qk_norm:
        q, k = rms_norm(a.q_norm, q), rms_norm(a.k_norm, k)
    return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v


def _post_attn(blk, x, y):
    """o_proj + residual, norm, SwiGLU MLP + residual. x: (N, D), y: (N, H, hd) -> (N, D)."""
    (o,) = group_proj(y.reshape(y.shape[0], -1), [blk.self_attn.o_proj])  # (N, H*hd) -> (N, D)
    x = x + o
    mlp = blk.mlp
    W_gu, gu_mods, down = getattr(mlp, "_tb_gate_up", None), [mlp.gate_proj, mlp.up_proj], mlp.down_proj
    if (W_gu is not None and getattr(mlp, "_tb_gate_up_bias", None) is None and torch.is_grad_enabled()
            and _lora_fusable(gu_mods + [down]) and down.bias is None
            and not any(m.use_dora for m in gu_mods + [down]) and not blk.post_attention_layernorm.weight.requires_grad):
        dt = x.dtype
        norm = blk.post_attention_layernorm
        A_gu = torch.cat([m.lora_A.weight for m in gu_mods]).to(dt)  # (2r, D)
        B_gu = torch.block_diag(*[(m.lora_B.weight * m.scaling).to(dt) for m in gu_mods])  # (2I, 2r)
        M_gu, M_d = getattr(mlp, "_tb_gate_up_aug", None), getattr(mlp, "_tb_down_aug", None)
        if M_gu is None or M_gu.dtype != dt:  # not augmented (augment_mlp), or autocast to another dtype
            M_gu, M_d = W_gu.to(dt), down.weight.to(dt)
        d = _MLP_APPLY(x, norm.weight, norm.eps, M_gu, A_gu, B_gu, M_d,
                       down.lora_A.weight.to(dt), (down.lora_B.weight * down.scaling).to(dt),
                       bool(getattr(blk, "_tb_mlp_recompute", False)), bool(getattr(blk, "_tb_keep_product", False)))
        return x + d
    gate_up = group_proj(x, [mlp.gate_proj, mlp.up_proj], blk.post_attention_layernorm,
                         getattr(mlp, "_tb_gate_up", None), getattr(mlp, "_tb_gate_up_bias", None), split=False)
    down = mlp.down_proj
    if _lora_fusable([down]) and down.bias is None and torch.is_grad_enabled():
        gu = gate_up[0] if len(gate_up) == 1 else torch.cat(gate_up, dim=-1)  # (N, 2I) = [g | u]
        dt = gu.dtype
        d = _SwiGLUDownLoRA.apply(gu, down.weight.to(dt), down.lora_A.weight.to(dt),
                                  (down.lora_B.weight * down.scaling).to(dt))
    else:
        g, u = gate_up if len(gate_up) == 2 else gate_up[0].chunk(2, dim=-1)
        (d,) = multi_proj(F.silu(g) * u, [down])
    return x + d


class HostEmbedding(nn.Module):
    """A frozen, untied embedding table kept in pinned host memory (1 GB at Llama-3 8B's 128k x 4096 in bf16).

    Each step needs only the rows of its tokens: looked up on the host and copied over (16 MB for 2,048 tokens),
    so the GPU memory goes to activations instead (fewer recomputed blocks at the same peak). Also serves the
    reference path (eval loss) by moving its result to the ids' device.
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        host = torch.empty(weight.shape, dtype=weight.dtype, pin_memory=torch.cuda.is_available())
        host.copy_(weight.detach())
        self.weight = nn.Parameter(host, requires_grad=False)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of host `ids` (any shape), on the host (pinned when CUDA exists)."""
        x = F.embedding(ids, self.weight)
        return x.pin_memory() if torch.cuda.is_available() else x

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lookup(ids.cpu()).to(ids.device, non_blocking=True)


def embed_on_host(model: Transformer) -> bool:
    """Move an untied, frozen input embedding to pinned host memory (HostEmbedding); False if not applicable."""
    emb = model.model.embed_tokens
    if isinstance(emb, HostEmbedding):
        return True
    if emb.weight.requires_grad or model.lm_head.weight is emb.weight or not emb.weight.is_cuda:
        return False
    model.model.embed_tokens = HostEmbedding(emb.weight)
    del emb
    torch.cuda.empty_cache()
    return True


def embed_on_device(model: Transformer, device) -> None:
    """Undo embed_on_host (benchmarks switch between variants)."""
    emb = model.model.embed_tokens
    if isinstance(emb, HostEmbedding):
        new = nn.Embedding(*emb.weight.shape, device=device, dtype=emb.weight.dtype)
        new.weight.data.copy_(emb.weight)
        new.weight.requires_grad_(False)
        model.model.embed_tokens = new


class _OffloadedCheckpoint(torch.autograd.Function):
    """A recomputed block whose input is parked in pinned host memory until backward (long contexts).

    Forward runs the block without a graph and copies its input x (N, D) to the host; backward copies it back,
    recomputes the block with a graph and backpropagates through it, which also accumulates the adapters'
    gradients (as reentrant checkpointing does). GPU memory per block: nothing between forward and backward.
    """

    @staticmethod
    def forward(ctx, x, run, blk, cos, sin, cu, max_len):
        with torch.no_grad():
            out = run(blk, x, cos, sin, cu, max_len)
        ctx.x_host = torch.empty(x.shape, dtype=x.dtype, pin_memory=x.is_cuda)
        ctx.x_host.copy_(x, non_blocking=True)
        ctx.args = (run, blk, cos, sin, cu, max_len)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        run, blk, cos, sin, cu, max_len = ctx.args
        x = ctx.x_host.to(grad_out.device, non_blocking=True).requires_grad_(True)
        with torch.enable_grad():
            out = run(blk, x, cos, sin, cu, max_len)
        torch.autograd.backward(out, grad_out)
        return x.grad, None, None, None, None, None, None


class FastPath:
    """Packed, padding-free training steps for a LoRA `Transformer` (same loss as the reference path).

    max_tokens: tokens per packed micro-batch (the window's samples are split at sample boundaries).
    ckpt_layers: how many blocks recompute their activations in backward; None = as few as `memory_budget`
        (bytes for activations) allows, after recomputing gate/up first (plan_recompute); 0 = none.
    mlp_recompute: how many of the other blocks recompute only their gate/up products in backward.
    compile: regional torch.compile of the attention-free halves of a block (CUDA only; falls back to eager
        if compiling fails).
    offload: checkpointed blocks keep their input in pinned host memory instead of on the GPU (long contexts).
    """

    def __init__(self, model: Transformer, max_tokens: int, *, ckpt_layers: Optional[int] = None,
                 memory_budget: Optional[int] = None, compile: bool = False, loss_chunk: int = 256,
                 offload: bool = False, mlp_recompute: Optional[int] = None):
        self.model, self.max_tokens, self.loss_chunk, self.offload = model, int(max_tokens), loss_chunk, offload
        if ckpt_layers is None:
            ckpt_layers, mlp_recompute = ((0, mlp_recompute) if memory_budget is None
                                          else self.plan_recompute(memory_budget))
        self.set_recompute(ckpt_layers, mlp_recompute or 0)
        if memory_budget is not None and self.ckpt_layers == 0 and self.mlp_recompute == 0:
            # Keep the SwiGLU products only if they fit on top of everything else.
            c = model.config
            product = 2 * c.intermediate_size * self.max_tokens * c.num_hidden_layers
            self.set_keep_product(self.act_bytes_per_token() * self.max_tokens * c.num_hidden_layers + product
                                  <= memory_budget)
        self.pre, self.post = _pre_attn, _post_attn
        # Dropout on any adapter: recompute must replay the same random masks.
        self.uses_rng = any(isinstance(m, LoRALinear) and not isinstance(m.dropout, nn.Identity)
                            for m in model.modules())
        self.compiled = False
        fuse_weights(model)  # q/k/v and gate/up: one GEMM each (the modules' weights become views)
        if compile:
            import torch._dynamo

            # Each region is one function called by every block, with a few guarded variants (block 0's input
            # needs no gradient; blocks that recompute gate/up or keep the SwiGLU product; a benchmark switching
            # variants in one process). Past dynamo's default limit of 8 it would silently run them eagerly
            # (call 3: the variable workload at a quarter of its speed, performance-notes.md § 9).
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            compile_pointwise()
            self.pre = torch.compile(_pre_attn, dynamic=True)
            self.post = torch.compile(_post_attn, dynamic=True)
            self.compiled = True

    @staticmethod
    def supported(model) -> tuple[bool, str]:
        if not isinstance(model, Transformer):
            return False, "not a tuneboard Transformer"
        if any(layer.window is not None for layer in model.model.layers):
            return False, "sliding-window attention"
        loras = [m for m in model.modules() if isinstance(m, LoRALinear)]
        if not loras:
            return False, "no LoRA layers (freeze/full fine-tuning use the reference path)"
        if any(m.use_dora for m in loras):
            return False, "DoRA"
        return True, ""

    # Bytes kept per token per un-checkpointed block (bf16): the residual stream before each half (the normed
    # inputs are recomputed from it), q/k/v, the attention output (+ its fp32 logsumexp), gate and up (the
    # SwiGLU product is recomputed in backward). At 8B this counts 92 KB; 10 % is added for what the count
    # misses (allocator rounding, small saved tensors, the LoRA products).
    def act_bytes_per_token(self) -> int:
        c = self.model.config
        qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim
        attn = c.num_attention_heads * c.head_dim
        return int(1.1 * (2 * (2 * c.hidden_size + qkv + attn + 2 * c.intermediate_size) + 4 * c.num_attention_heads))

    def plan_recompute(self, budget: int) -> tuple[int, int]:
        """(blocks recomputed, blocks whose MLP recomputes gate/up) so that max_tokens of activations fit in
        `budget` bytes, cheapest first: recomputing gate/up frees 4 x intermediate bytes per token for about a
        quarter of a block's forward, recomputing a block frees about 1.8x that for the whole forward, so
        MLP recompute comes first and whole blocks only once every block's MLP recomputes."""
        c = self.model.config
        T, L = self.max_tokens, c.num_hidden_layers
        full = self.act_bytes_per_token() * T  # one block, nothing recomputed
        mlp = 2 * 2 * c.intermediate_size * T  # what recomputing gate/up frees
        kept = 2 * c.hidden_size * T  # a checkpointed block keeps only its input
        for k in range(L + 1):
            for m in range(L - k + 1):
                # Recompute needs one block's full activations on top of what is kept.
                need = (L - k) * full - m * mlp + k * kept + (full if k else 0)
                if need <= budget:
                    return k, m
        return L, 0

    def set_recompute(self, ckpt_layers: int, mlp_recompute: int = 0) -> None:
        """Blocks [0, ckpt_layers) recompute everything; the next mlp_recompute blocks only their gate/up."""
        L = len(self.model.model.layers)
        self.ckpt_layers = max(0, min(L, int(ckpt_layers)))
        self.mlp_recompute = max(0, min(L - self.ckpt_layers, int(mlp_recompute)))
        for i, blk in enumerate(self.model.model.layers):
            blk._tb_mlp_recompute = self.ckpt_layers <= i < self.ckpt_layers + self.mlp_recompute
        self.set_keep_product(self.ckpt_layers == 0 and self.mlp_recompute == 0)
        # How compiled regions meet the LoRA Functions (FUNCTION_MODE): traced (faster; since the recompute is spelt
        # so that CSE cannot merge it, they keep no more than eager: § 9), or graph breaks with compiled pointwise
        # kernels when TUNEBOARD_COMPILE_FUNCTIONS=break.
        self.trace_functions = os.environ.get("TUNEBOARD_COMPILE_FUNCTIONS", "trace") != "break"

    def set_keep_product(self, keep: bool) -> None:
        """Whether blocks keep their SwiGLU product for backward (2 bytes x intermediate per token more, one
        elementwise pass less): by default only when nothing is recomputed (memory is not short);
        TUNEBOARD_KEEP_SWIGLU=0/1 overrides."""
        env = os.environ.get("TUNEBOARD_KEEP_SWIGLU", "")
        self.keep_product = env == "1" or (env != "0" and bool(keep))
        for blk in self.model.model.layers:
            blk._tb_keep_product = self.keep_product

    def _block(self, blk, x, cos, sin, cu, max_len):
        q, k, v = self.pre(blk, x, cos, sin)
        y = attention(q, k, v, cu, max_len)
        return self.post(blk, x, y)

    def hidden(self, mb: dict, device) -> torch.Tensor:
        """Final normed hidden states (N, D) of a packed micro-batch."""
        FUNCTION_MODE["trace"] = self.compiled and self.trace_functions
        FUNCTION_MODE["compiled"] = self.compiled
        m = self.model
        if torch.is_grad_enabled():
            refresh_augmented(m)  # the adapters' current values into the augmented weights
        pos = mb["position_ids"].to(device, non_blocking=True)  # (N,)
        cu = mb["cu_seqlens"].to(device, non_blocking=True)
        emb = m.model.embed_tokens
        if "inputs_embeds" in mb:  # fast_graph.py: looked up before the replay, in a static buffer
            x = mb["inputs_embeds"]  # (N, D)
        elif isinstance(emb, HostEmbedding):
            x = emb.lookup(mb["input_ids"][0]).to(device, non_blocking=True)  # (N, D)
        else:
            x = emb(mb["input_ids"].to(device, non_blocking=True)[0])  # (N, D)
        freqs = pos[:, None].float() * m.inv_freq.to(device)  # (N, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (N, hd)
        cos, sin = emb.cos().to(x.dtype)[:, None], emb.sin().to(x.dtype)[:, None]  # (N, 1, hd)
        if self.offload and torch.is_grad_enabled() and not x.requires_grad:
            x = x.detach().requires_grad_(True)  # the frozen embedding's output: make the Function's graph exist
        for i, blk in enumerate(m.model.layers):
            if i < self.ckpt_layers and torch.is_grad_enabled() and self.offload:
                x = _OffloadedCheckpoint.apply(x, self._block, blk, cos, sin, cu, mb["max_len"])
            elif i < self.ckpt_layers and torch.is_grad_enabled():
                # The RNG state is saved only when dropout needs it (reading it is not allowed while a CUDA
                # graph is being captured: fast_graph.py).
                x = checkpoint(self._block, blk, x, cos, sin, cu, mb["max_len"], use_reentrant=False,
                               preserve_rng_state=self.uses_rng)
            else:
                x = self._block(blk, x, cos, sin, cu, mb["max_len"])
        return rms_norm(m.model.norm, x)

    def loss(self, mb: dict, device) -> tuple[torch.Tensor, int]:
        """Summed next-token cross-entropy over the labelled positions of a packed micro-batch, and their count."""
        try:
            h = self.hidden(mb, device)
        except Exception:
            if not self.compiled:
                raise
            # A compile failure must not stop training: fall back to eager once, for good.
            self.pre, self.post, self.compiled = _pre_attn, _post_attn, False
            h = self.hidden(mb, device)
        # Labelled positions are known on the host: indexing with them avoids the device sync that a boolean
        # mask on the GPU costs (the host would wait for the whole forward before queueing the loss).
        y = mb["targets"]
        idx = (y != IGNORE_INDEX).nonzero().squeeze(1)  # (n,)
        n = len(idx)
        if n == 0:
            return h.sum() * 0.0, 0
        idx_d = idx.to(device, non_blocking=True)
        y_d = y[idx].to(device, non_blocking=True)
        return _LinearCrossEntropy.apply(h.index_select(0, idx_d), self.model.lm_head.weight, y_d, self.loss_chunk), n

    def pack(self, batches: list[dict]) -> list[dict]:
        return pack_window(batches, self.max_tokens)


def free_memory_bytes(device) -> int:
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)


def default_max_tokens(batch_size: int, cutoff_len: int) -> int:
    """Tokens per packed micro-batch: the most a padded reference micro-batch could hold."""
    return max(batch_size * cutoff_len, 2048)


def reserve_bytes(model: Transformer, max_tokens: int, loss_chunk: int = 256) -> int:
    """Headroom outside block activations: loss chunk logits (fp32 + bf16), hidden/grad copies, allocator slack."""
    c = model.config
    return int(loss_chunk * c.vocab_size * 6 + 8 * c.hidden_size * max_tokens * 2 + 1.5 * 1024**3)



def for_training(cfg, model, device, total_tokens: int, dist=None) -> tuple[Optional[FastPath], str]:
    """The FastPath train.train should use for `cfg` (None: the reference path), and a line for the log.

    cfg.fast_path: "auto" = on CUDA when the model qualifies; "on" = also on CPU (tests); "off" = never.
    Recompute: with gradient_checkpointing on, only as many blocks as the free GPU memory requires.
    Compile (regional torch.compile) costs tens of seconds up front, so it is used for runs of at least
    COMPILE_MIN_TOKENS tokens; TUNEBOARD_COMPILE=1/0 forces it on/off. dist: distributed.Dist of a torchrun
    run (DDP keeps the fast path; FSDP2 does not).
    """
    import os

    mode = getattr(cfg, "fast_path", "auto")
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None, ""
    ok, why = FastPath.supported(model)
    if not ok:
        return None, f"fast path off: {why}"
    if dist is not None and dist.enabled and dist.pick_strategy(model, device) != "ddp":
        # FSDP2 shards the weights and gathers them in its module hooks, which the packed path (calling the
        # blocks' pieces itself) would bypass. DDP is fine: train.py averages gradients itself (sync_grads).
        return None, "fast path off: FSDP2 (sharded weights)"
    max_tokens = default_max_tokens(cfg.per_device_train_batch_size, cfg.cutoff_len)
    # Before measuring free memory: the embedding table's GB go to activations (HostEmbedding).
    host_embed = device.type == "cuda" and os.environ.get("TUNEBOARD_HOST_EMBEDDING", "1") != "0" and embed_on_host(model)
    ckpt, budget = 0, None
    if device.type == "cuda" and cfg.gradient_checkpointing:
        budget = free_memory_bytes(device) - reserve_bytes(model, max_tokens)
        ckpt = None
    env = os.environ.get("TUNEBOARD_COMPILE")
    compile_ = device.type == "cuda" and (env == "1" if env in ("0", "1") else total_tokens >= COMPILE_MIN_TOKENS)
    fp = FastPath(model, max_tokens, ckpt_layers=ckpt, memory_budget=max(budget, 0) if budget is not None else None,
                  compile=compile_)
    return fp, (f"fast path: packed micro-batches of <= {max_tokens} tokens, varlen attention, "
                f"{fp.ckpt_layers}/{len(model.model.layers)} blocks recomputed"
                f"{f' (+ gate/up of {fp.mlp_recompute})' if fp.mlp_recompute else ''}, "
                f"compile {'on' if fp.compiled else 'off'}"
                f"{', input embedding in host memory' if host_embed else ''}")


# Run 2 (H200, 8B): compiling took ~67 s and cut the 2x1024 step from 256 to 193 ms (-25 %). At ~8k tokens/s
# eager, compile pays after ~2M tokens; 5M keeps short runs (the 91-sample seed run: ~0.6M) free of it.
COMPILE_MIN_TOKENS = 5_000_000
