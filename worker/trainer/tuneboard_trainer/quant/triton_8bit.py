"""Triton kernels for an 8-bit per-channel weight (eightbit.py: int8 or FP8 e4m3 values, an fp32 scale per row).

A tile of W (N, K) is dequantized in registers exactly as ChannelWeight.dequantize does (fp32 value * row scale,
rounded to the checkpoint dtype, then to the compute dtype) and fed to tl.dot; the dense weight never exists in
global memory. FP8 bytes are decoded through a 256-entry fp32 table (the e4m3 value of every byte), so one kernel
serves both kinds on any GPU (and the CPU interpreter, which has no float8 type).

- ch8_mm_nt:  a (M, K) @ W^T -> (M, N), the forward; M <= 16 takes the GEMV-shaped launch (split K).
- ch8_mm_nn:  a (M, N) @ W -> (M, K), the input gradient.
- ch8_dequantize_into: W into a dense buffer (the dequantize-then-cuBLAS option).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .eightbit import FP8_DTYPE, ChannelWeight
from .triton_nf4 import GEMV_MAX_M, _TL_DTYPES, _sm_count, dot_dtype


@triton.jit
def _ch8_tile(q_ptr, scale_ptr, lut_ptr, rn, rk, N, K, k_limit, IS_FP8: tl.constexpr, W_DTYPE: tl.constexpr,
              OUT_DTYPE: tl.constexpr):
    """The dequantized tile W[rn, rk] in OUT_DTYPE; zeros outside rows N and columns k_limit (<= K)."""
    mask = (rn[:, None] < N) & (rk[None, :] < k_limit)
    raw = tl.load(q_ptr + rn[:, None].to(tl.int64) * K + rk[None, :], mask=mask, other=0)
    if IS_FP8:
        value = tl.load(lut_ptr + raw.to(tl.int32), mask=mask, other=0.0)  # raw: the uint8 view of e4m3 bytes
    else:
        value = raw.to(tl.float32)
    scale = tl.load(scale_ptr + rn, mask=rn < N, other=0.0)  # fp32 (len(rn),)
    return (value * scale[:, None]).to(W_DTYPE).to(OUT_DTYPE)


@triton.jit
def _ch8_nt_kernel(a_ptr, out_ptr, q_ptr, scale_ptr, lut_ptr, M, N, K, stride_am, stride_ak, stride_os, stride_om,
                   stride_on, K_PER_SPLIT, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                   IS_FP8: tl.constexpr, W_DTYPE: tl.constexpr, DOT_DTYPE: tl.constexpr):
    pid_m, pid_n, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    k_begin = split * K_PER_SPLIT
    k_end = tl.minimum(k_begin + K_PER_SPLIT, K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K_PER_SPLIT, BLOCK_K):  # K_PER_SPLIT is a multiple of BLOCK_K
        rk = k_begin + k0 + tl.arange(0, BLOCK_K)
        a = tl.load(a_ptr + rm[:, None].to(tl.int64) * stride_am + rk[None, :] * stride_ak,
                    mask=(rm[:, None] < M) & (rk[None, :] < k_end), other=0.0)
        w = _ch8_tile(q_ptr, scale_ptr, lut_ptr, rn, rk, N, K, k_end, IS_FP8, W_DTYPE, a.dtype)
        acc = tl.dot(a.to(DOT_DTYPE), tl.trans(w.to(DOT_DTYPE)), acc)
    ptrs = out_ptr + split * stride_os + rm[:, None].to(tl.int64) * stride_om + rn[None, :] * stride_on
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def _ch8_nn_kernel(a_ptr, out_ptr, q_ptr, scale_ptr, lut_ptr, M, N, K, stride_am, stride_an, stride_om, stride_ok,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, IS_FP8: tl.constexpr,
                   W_DTYPE: tl.constexpr, DOT_DTYPE: tl.constexpr):
    pid_m, pid_k = tl.program_id(0), tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rk = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
    for n0 in range(0, N, BLOCK_N):
        rn = n0 + tl.arange(0, BLOCK_N)
        a = tl.load(a_ptr + rm[:, None].to(tl.int64) * stride_am + rn[None, :] * stride_an,
                    mask=(rm[:, None] < M) & (rn[None, :] < N), other=0.0)
        w = _ch8_tile(q_ptr, scale_ptr, lut_ptr, rn, rk, N, K, K, IS_FP8, W_DTYPE, a.dtype)
        acc = tl.dot(a.to(DOT_DTYPE), w.to(DOT_DTYPE), acc)
    ptrs = out_ptr + rm[:, None].to(tl.int64) * stride_om + rk[None, :] * stride_ok
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rk[None, :] < K))


@triton.jit
def _ch8_dequant_kernel(out_ptr, q_ptr, scale_ptr, lut_ptr, N, K, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                        IS_FP8: tl.constexpr, W_DTYPE: tl.constexpr):
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    w = _ch8_tile(q_ptr, scale_ptr, lut_ptr, rn, rk, N, K, K, IS_FP8, W_DTYPE, out_ptr.dtype.element_ty)
    tl.store(out_ptr + rn[:, None].to(tl.int64) * K + rk[None, :], w, mask=(rn[:, None] < N) & (rk[None, :] < K))


_LUTS: dict = {}


def fp8_table(device: torch.device) -> torch.Tensor:
    """fp32 (256,): the e4m3 value of every byte (made once per device)."""
    if device not in _LUTS:
        _LUTS[device] = torch.arange(256, dtype=torch.uint8).view(FP8_DTYPE).float().to(device)
    return _LUTS[device]


def _weight_args(w: ChannelWeight) -> tuple:
    fp8 = w.kind == "fp8"
    q = w.q.view(torch.uint8) if fp8 else w.q
    lut = fp8_table(q.device) if fp8 else w.scale
    return (q, w.scale, lut), dict(IS_FP8=fp8, W_DTYPE=_TL_DTYPES[w.dtype])


def _check(a: torch.Tensor, w: ChannelWeight, inner: int) -> None:
    if a.dim() != 2 or a.shape[1] != inner:
        raise ValueError(f"8-bit matmul: input {tuple(a.shape)} does not fit the weight {tuple(w.shape)}")


def ch8_mm_nt(a: torch.Tensor, w: ChannelWeight) -> torch.Tensor:
    """a (M, K) @ W^T -> (M, N) in a's dtype."""
    N, K = w.shape
    _check(a, w, K)
    M = a.shape[0]
    tensors, meta = _weight_args(w)
    meta["DOT_DTYPE"] = dot_dtype(a.dtype)
    if M <= GEMV_MAX_M:
        BM, BN, BK = 16, 64, 128
        split = max(1, min(triton.cdiv(K, BK), 4 * _sm_count(a.device) // max(1, triton.cdiv(N, BN))))
        k_per_split = triton.cdiv(triton.cdiv(K, split), BK) * BK
        split = triton.cdiv(K, k_per_split)
        out = torch.empty((split, M, N), dtype=torch.float32 if split > 1 else a.dtype, device=a.device)
        _ch8_nt_kernel[(1, triton.cdiv(N, BN), split)](
            a, out, *tensors, M, N, K, a.stride(0), a.stride(1), out.stride(0), out.stride(1), out.stride(2),
            k_per_split, BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, **meta)
        return out[0] if split == 1 else out.sum(0).to(a.dtype)
    BM, BN, BK = 64, 128, 64
    out = torch.empty((M, N), dtype=a.dtype, device=a.device)
    _ch8_nt_kernel[(triton.cdiv(M, BM), triton.cdiv(N, BN), 1)](
        a, out, *tensors, M, N, K, a.stride(0), a.stride(1), 0, out.stride(0), out.stride(1), triton.cdiv(K, BK) * BK,
        BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, **meta)
    return out


def ch8_mm_nn(a: torch.Tensor, w: ChannelWeight) -> torch.Tensor:
    """a (M, N) @ W -> (M, K) in a's dtype (the input gradient of x W^T)."""
    N, K = w.shape
    _check(a, w, N)
    M = a.shape[0]
    tensors, meta = _weight_args(w)
    BM, BN, BK = (16, 128, 64) if M <= GEMV_MAX_M else (64, 64, 128)
    out = torch.empty((M, K), dtype=a.dtype, device=a.device)
    _ch8_nn_kernel[(triton.cdiv(M, BM), triton.cdiv(K, BK))](
        a, out, *tensors, M, N, K, a.stride(0), a.stride(1), out.stride(0), out.stride(1),
        BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, DOT_DTYPE=dot_dtype(a.dtype), **meta)
    return out


def ch8_dequantize_into(w: ChannelWeight, out: torch.Tensor) -> torch.Tensor:
    """W into `out` (N, K), contiguous; returns out."""
    N, K = w.shape
    tensors, meta = _weight_args(w)
    BN, BK = 32, 128
    _ch8_dequant_kernel[(triton.cdiv(N, BN), triton.cdiv(K, BK))](out, *tensors, N, K, BLOCK_N=BN, BLOCK_K=BK, **meta)
    return out
