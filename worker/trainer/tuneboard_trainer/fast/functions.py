"""Autograd Functions of the fast path: LoRA projections that keep only the residual stream for backward.

`_NormGroupLoRA` (RMSNorm + q/k/v or gate/up as one GEMM), `_GroupLoRA` (o_proj), `_MLPLoRA` (the whole MLP
half) and `_SwiGLUDownLoRA` recompute the normed inputs (elementwise) in backward instead of keeping them; the
SwiGLU product is recomputed too unless memory allows keeping it. FUNCTION_MODE says how torch.compile'd
regions meet them (traced, or graph breaks with compiled elementwise kernels of their own).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..loss import compile_ce
from ..model import rms_norm as model_rms_norm
from .kernels import (_Kernels, _gemm_ops, _rms_bwd, _rms_fwd, _rms_h, _swiglu, _swiglu_bwd,
                      _swiglu_dgrad)


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
    return model_rms_norm(x, norm.weight, norm.eps)


def _lora_fwd(x, W, A, B):
    """(x W^T + (x A^T) B^T, xa = x A^T): a frozen linear plus its LoRA term, B's product added by cuBLAS as the
    GEMM's beta term (no add kernel, no copy). W: (O, D) frozen; A: (R, D); B: (O, R), scaling folded in; xa is
    what backward needs for B's gradient. No in-place ops on tensors torch.compile can see: on torch 2.11 such
    ops in these Functions (with None among the saved tensors) compile to wrong LoRA gradients; the in-place
    GEMM lives inside _Kernels.mm_add_nt (an opaque op there)."""
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


# How torch.compile'd regions meet the Functions above (FastPath sets it for its passes):
#   "break": each Function call is a graph break and runs eagerly, with compile_pointwise()'s fused kernels for
#     its elementwise parts: what they save is what they say (least memory);
#   "trace": traced into the regions: one fused code for everything (the default). AOTAutograd's joint-graph
#     CSE merges a backward recomputation spelt like the forward's (the normed inputs; gate/up; the SwiGLU
#     product) with it and keeps those tensors (H200, 8B, 2 x 1024: 24.3 vs 21.5 GiB), so the recompute is
#     spelt differently (_rms_h, _swiglu_bwd, the GEMMs as custom ops);
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


def _dynamo_settings() -> None:
    """dynamo's settings for the regional compiles (FastPath's pre/post halves and their kernels)."""
    import torch._dynamo

    # Each region is one function called by every block, with a few guarded variants (block 0's input needs no
    # gradient; blocks that recompute gate/up or keep the SwiGLU product; a benchmark switching variants in one
    # process). Past dynamo's default limit of 8 it would silently run them eagerly (a variable-length workload
    # then trains at a quarter of its speed).
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    # The blocks' floats (LoRA scaling, norm eps, Gemma's soft-cap) as constants: left dynamic, dynamo passes each
    # as a 0-d CPU tensor, and inductor builds C++ CPU kernels for them inside every CUDA region (a C++ compile
    # per region and recompile on the first run: minutes on a fresh machine). Every block has the same values,
    # so no recompiles follow.
    torch._dynamo.config.specialize_float = True


def compile_pointwise() -> None:
    """Swap the pointwise helpers for torch.compile'd ones (dynamic shapes: one compile for all token counts),
    and make the Functions' graph-break wrappers (FUNCTION_MODE); dynamo's settings for the regions."""
    _dynamo_settings()
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
