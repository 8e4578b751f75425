"""Autograd Functions of Gemma's fast path: its RMSNorm (1 + weight, in fp32) and GeGLU MLP.

The counterparts of functions.py's `_NormGroupLoRA` and `_MLPLoRA` for Gemma's norm and gelu(tanh) gate: they
keep only the residual stream (and the norm's rstd) for backward and recompute the normed input there. The
sandwich norms after attention and after the MLP are `_GemmaNorm` (keeps its input and rstd). The GEMMs are
functions.py's (_lora_fwd / _lora_bwd: the LoRA term as cuBLAS's beta term).

The elementwise helpers are plain functions; compile_gemma() swaps in torch.compile'd ones. The recomputing
helpers (`_norm_h`, the GeGLU gradient) are spelt differently from the forward's so that AOTAutograd's CSE,
when these Functions are traced into compiled regions, cannot merge the recompute with the forward and keep
the tensors the recompute exists to free (functions.FUNCTION_MODE).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import functions as _functions
from .functions import _lora_bwd, _lora_fwd
from .kernels import _Kernels as _GemmKernels

_GELU_C = math.sqrt(2.0 / math.pi)


def _norm_fwd(x, w, eps: float):
    """gemma.GemmaRMSNorm: x / rms(x) * (1 + w), all in fp32, cast back. Returns (h, rstd (..., 1) fp32)."""
    xf = x.float()
    rstd = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (xf * rstd * (1.0 + w.float())).to(x.dtype), rstd


def _norm_h(x, w, rstd):
    """The normed input again from x and rstd (the same value as _norm_fwd's, spelt apart from it)."""
    return (x.float() * (rstd * (w.float() + 1.0))).to(x.dtype)


def _norm_bwd(g, x, w, rstd):
    """Input gradient of _norm_fwd: rstd * (g' - xhat * mean(g' * xhat)), g' = g * (1 + w), in fp32."""
    gf = g.float() * (1.0 + w.float())
    xh = x.float() * rstd
    return (rstd * (gf - xh * (gf * xh).mean(-1, keepdim=True))).to(x.dtype)


def _geglu(gu):
    """gelu_tanh(g) * u for gu = [g | u] (N, 2I), rounded as the reference MLP rounds (both factors in gu's dtype)."""
    g, u = gu.chunk(2, dim=-1)
    return F.gelu(g, approximate="tanh") * u


def _geglu_bwd(ds, gu):
    """(d[g | u], s = gelu_tanh(g) * u) from the product's gradient ds: gelu and its derivative in fp32."""
    g, u = gu.chunk(2, dim=-1)
    gf = g.float()
    t = torch.tanh(_GELU_C * (gf + 0.044715 * gf * gf * gf))
    a = (0.5 * gf * (1.0 + t)).to(g.dtype)  # gelu_tanh(g), rounded as in forward
    da = 0.5 * (1.0 + t) + 0.5 * gf * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * gf * gf)
    dg = ((ds * u).float() * da).to(g.dtype)
    return torch.cat([dg, ds * a], dim=-1), a * u


def _geglu_dgrad(ds, gu):
    """d[g | u] alone (the product was kept)."""
    return _geglu_bwd(ds, gu)[0]


class _GK:
    """The elementwise helpers in use: eager, or compiled by compile_gemma()."""

    norm_fwd = staticmethod(_norm_fwd)
    norm_h = staticmethod(_norm_h)
    norm_bwd = staticmethod(_norm_bwd)
    geglu = staticmethod(_geglu)
    geglu_bwd = staticmethod(_geglu_bwd)
    geglu_dgrad = staticmethod(_geglu_dgrad)
    compiled = False


class _GemmaNorm(torch.autograd.Function):
    """Gemma's RMSNorm with a frozen weight; keeps x and rstd (N, 1) for backward."""

    @staticmethod
    def forward(ctx, x, w, eps):
        h, rstd = _GK.norm_fwd(x, w, eps)
        ctx.save_for_backward(x, w, rstd)
        return h

    @staticmethod
    def backward(ctx, g):
        x, w, rstd = ctx.saved_tensors
        return _GK.norm_bwd(g, x, w, rstd), None, None


class _GemmaNormGroupLoRA(torch.autograd.Function):
    """functions._NormGroupLoRA with Gemma's norm: norm(x) through the fused q/k/v weight W plus the LoRA terms
    (A stacked, B block-diagonal, scaling folded in). Keeps x, rstd and the small LoRA product xa."""

    @staticmethod
    def forward(ctx, x, nw, eps, W, A, B):
        h, rstd = _GK.norm_fwd(x, nw, eps)  # (N, D), (N, 1)
        out, xa = _lora_fwd(h, W, A, B)  # (N, O), (N, R)
        ctx.save_for_backward(x, nw, rstd, W, A, B, xa)
        return out

    @staticmethod
    def backward(ctx, g):
        x, nw, rstd, W, A, B, xa = ctx.saved_tensors
        dh, d_xa, d_b = _lora_bwd(g, W, A, B, xa)
        d_a = d_xa.t() @ _GK.norm_h(x, nw, rstd)  # (R, D), the normed input recomputed
        return _GK.norm_bwd(dh, x, nw, rstd), None, None, None, d_a, d_b


class _GemmaMLPLoRA(torch.autograd.Function):
    """The MLP of a Gemma block before its post-feedforward norm: Gemma norm, gate/up (one GEMM against their
    fused weight, LoRA A stacked, B block-diagonal), GeGLU, down_proj with its LoRA.

    Keeps x, rstd, the LoRA products and gate_up = [g | u] (N, 2I), unless `recompute` (then gate_up is
    recomputed in backward with one GEMM: FastPath.plan_recompute's cheaper step); keep_product keeps the
    GeGLU product (N, I) too instead of recomputing it for down_proj's LoRA A gradient.
    """

    @staticmethod
    def forward(ctx, x, nw, eps, W_gu, A_gu, B_gu, W_d, A_d, B_d, recompute, keep_product):
        h, rstd = _GK.norm_fwd(x, nw, eps)  # (N, D), (N, 1)
        gu, xa_gu = _lora_fwd(h, W_gu, A_gu, B_gu)  # (N, 2I), (N, 2r)
        s = _GK.geglu(gu)  # (N, I)
        out, xa_d = _lora_fwd(s, W_d, A_d, B_d)  # (N, D), (N, r)
        saved = [x, nw, rstd, W_gu, A_gu, B_gu, W_d, A_d, B_d, xa_gu, xa_d]
        if not recompute:
            saved.append(gu)
            if keep_product:
                saved.append(s)
        ctx.save_for_backward(*saved)
        ctx.recompute, ctx.keep_product = recompute, keep_product and not recompute
        return out

    @staticmethod
    def backward(ctx, grad):
        x, nw, rstd, W_gu, A_gu, B_gu, W_d, A_d, B_d, xa_gu, xa_d, *kept = ctx.saved_tensors
        h = _GK.norm_h(x, nw, rstd)
        gu = _GemmKernels.mm_add_nt(h, W_gu, xa_gu, B_gu) if ctx.recompute else kept[0]
        ds, d_xad, d_bd = _lora_bwd(grad, W_d, A_d, B_d, xa_d)  # (N, I), (N, r), (D, r)
        if ctx.keep_product:
            d_gu, s = _GK.geglu_dgrad(ds, gu), kept[1]
        else:
            d_gu, s = _GK.geglu_bwd(ds, gu)  # (N, 2I), (N, I)
        d_ad = d_xad.t() @ s  # (r, I)
        dh, d_xagu, d_bgu = _lora_bwd(d_gu, W_gu, A_gu, B_gu, xa_gu)  # (N, D), (N, 2r), (2I, 2r)
        d_agu = d_xagu.t() @ h  # (2r, D)
        return (_GK.norm_bwd(dh, x, nw, rstd), None, None, None, d_agu, d_bgu, None, d_ad, d_bd, None, None)


_DISABLED_APPLY: dict = {}


def _apply(f):
    """functions.FUNCTION_MODE for these Functions: traced into compiled regions, or graph breaks."""
    mode = _functions.FUNCTION_MODE
    if mode["trace"] or not mode["compiled"]:
        return f.apply
    return _DISABLED_APPLY[f]  # made by compile_gemma(), which every compiled GemmaFastPath calls


def gemma_norm(norm, x: torch.Tensor) -> torch.Tensor:
    """A Gemma RMSNorm module (gemma.GemmaRMSNorm) applied to x: the Function for a frozen weight under grad,
    the module itself otherwise (a trained norm, no_grad evaluation)."""
    if not norm.weight.requires_grad and torch.is_grad_enabled():
        return _apply(_GemmaNorm)(x, norm.weight, norm.eps)
    return norm(x)


def NORM_GROUP_APPLY(*args):
    return _apply(_GemmaNormGroupLoRA)(*args)


def MLP_APPLY(*args):
    return _apply(_GemmaMLPLoRA)(*args)


def compile_gemma() -> None:
    """Compiled elementwise helpers and the graph-break wrappers (as functions.compile_pointwise); idempotent."""
    if _GK.compiled:
        return
    for f in (_GemmaNorm, _GemmaNormGroupLoRA, _GemmaMLPLoRA):
        _DISABLED_APPLY[f] = torch.compiler.disable(f.apply)
    for name, fn in (("norm_fwd", _norm_fwd), ("norm_h", _norm_h), ("norm_bwd", _norm_bwd), ("geglu", _geglu),
                     ("geglu_bwd", _geglu_bwd), ("geglu_dgrad", _geglu_dgrad)):
        setattr(_GK, name, staticmethod(torch.compile(fn, dynamic=True)))
    _GK.compiled = True

