"""The fast path's GEMM and elementwise helpers, and their compiled / custom-op forms.

The helpers are plain functions, eager by default; `_Kernels` holds the form in use. compile_pointwise
(functions.py) swaps in one fused Triton kernel per elementwise helper and torch.library custom ops for the GEMM
helpers, which torch.compile then treats as opaque: it would otherwise rewrite the in-place beta-term GEMMs as
out-of-place addmm (a copy of the output each) and could merge a recomputing backward's work with the forward's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _mm_add_nt(x, W, c, B):
    """x W^T + c B^T, the second product added in place by cuBLAS as the first's beta term.

    torch.addmm(x W^T, c, B^T) (the obvious form) copies its input matrix into a fresh output first: on the
    8B step that copy is 4.3 ms of 130. Written in place here; under torch.compile
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
