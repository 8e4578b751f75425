"""Triton kernels for an NF4 weight (nf4.py's bitsandbytes layout): dequantize tiles in registers and multiply.

W is (N, K) (out, in), stored flattened row-major: element (n, k) is index i = n * K + k, its 4-bit code index is
the high nibble of byte i // 2 when i is even, the low nibble when odd, and its block absmax is statistic
i // blocksize (double-quantized: nested_code[absmax[b]] * nested_absmax[b // nested_block] + offset). A tile
of W is dequantized exactly as NF4Weight.dequantize does (fp32 code * absmax, rounded to the checkpoint dtype,
then to the compute dtype) and fed to tl.dot: the whole dense weight never exists in global memory.

- nf4_mm_nt:  a (M, K) @ W^T -> (M, N), the forward (x W^T). M <= 16 (decode) uses the GEMV-shaped launch:
  one 16-row tile, long K steps and the K loop split over programs (fp32 partials summed afterwards), since
  N / BLOCK_N programs alone would leave most of the GPU idle.
- nf4_mm_nn:  a (M, N) @ W -> (M, K), the input gradient (dy W).
- nf4_dequantize_into: W into a dense buffer (the dequantize-then-cuBLAS option).
Row offsets of the activations are int64: a long-context micro-batch (245,760 tokens x 14,336) passes 2^31.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

from .nf4 import NF4Weight

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"

ALIGNED_TILES = {"on": True}
GEMV_MAX_M = 16  # rows up to which the forward takes the GEMV-shaped launch (decode)


@triton.jit
def _nf4_tile(packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr,
              rn, rk, N, K, k_limit, BLOCKSIZE: tl.constexpr, NESTED_BLOCK: tl.constexpr, HAS_NESTED: tl.constexpr,
              W_DTYPE: tl.constexpr, OUT_DTYPE: tl.constexpr):
    """The dequantized tile W[rn, rk] (len(rn), len(rk)) in OUT_DTYPE; zeros outside rows N and columns k_limit
    (<= K, the row length)."""
    mask = (rn[:, None] < N) & (rk[None, :] < k_limit)
    idx = rn[:, None].to(tl.int64) * K + rk[None, :]  # flat element index
    byte = tl.load(packed_ptr + (idx >> 1), mask=mask, other=0).to(tl.int32)
    nib = tl.where((idx & 1) == 0, byte >> 4, byte & 0x0F)
    value = tl.load(code_ptr + nib, mask=mask, other=0.0)  # fp32 code value
    blk = idx // BLOCKSIZE
    if HAS_NESTED:
        q = tl.load(absmax_ptr + blk, mask=mask, other=0).to(tl.int32)
        scale = tl.load(nested_code_ptr + q, mask=mask, other=0.0) * tl.load(
            nested_absmax_ptr + blk // NESTED_BLOCK, mask=mask, other=0.0) + tl.load(offset_ptr)
    else:
        scale = tl.load(absmax_ptr + blk, mask=mask, other=0.0)
    return (value * scale).to(W_DTYPE).to(OUT_DTYPE)


@triton.jit
def _nf4_tile_aligned(packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr,
                      rn, k0, N, K, k_limit, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCKSIZE: tl.constexpr,
                      NESTED_BLOCK: tl.constexpr, HAS_NESTED: tl.constexpr, W_DTYPE: tl.constexpr,
                      OUT_DTYPE: tl.constexpr):
    """_nf4_tile for columns k0 .. k0 + BLOCK_K when K and BLOCK_K are multiples of BLOCKSIZE (and k0 of BLOCK_K):
    every row of the tile starts on a byte and on a block, so the tile reads BLOCK_K / 2 contiguous bytes and
    BLOCK_K / BLOCKSIZE statistics per row instead of one byte and one statistic per element."""
    NB: tl.constexpr = BLOCK_K // BLOCKSIZE
    rb = k0 // 2 + tl.arange(0, BLOCK_K // 2)  # byte columns
    row = rn[:, None].to(tl.int64)
    byte = tl.load(packed_ptr + row * (K // 2) + rb[None, :], mask=(rn[:, None] < N) & (2 * rb[None, :] < k_limit),
                   other=0).to(tl.int32)
    nib = tl.interleave(byte >> 4, byte & 0x0F)  # (BLOCK_N, BLOCK_K): high nibble first
    value = tl.load(code_ptr + nib)  # fp32 code values; masked bytes read index 0 and get a zero scale below
    rblk = k0 // BLOCKSIZE + tl.arange(0, NB)
    blk = row * (K // BLOCKSIZE) + rblk[None, :]  # (BLOCK_N, NB)
    smask = (rn[:, None] < N) & (rblk[None, :] * BLOCKSIZE < k_limit)
    if HAS_NESTED:
        q = tl.load(absmax_ptr + blk, mask=smask, other=0).to(tl.int32)
        scale = tl.load(nested_code_ptr + q) * tl.load(nested_absmax_ptr + blk // NESTED_BLOCK, mask=smask,
                                                       other=0.0) + tl.load(offset_ptr)
        scale = tl.where(smask, scale, 0.0)
    else:
        scale = tl.load(absmax_ptr + blk, mask=smask, other=0.0)
    w = tl.reshape(value, (BLOCK_N, NB, BLOCKSIZE)) * scale[:, :, None]
    return tl.reshape(w, (BLOCK_N, BLOCK_K)).to(W_DTYPE).to(OUT_DTYPE)


@triton.jit
def _nf4_nt_kernel(a_ptr, out_ptr, packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr,
                   M, N, K, stride_am, stride_ak, stride_os, stride_om, stride_on, K_PER_SPLIT,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                   BLOCKSIZE: tl.constexpr, NESTED_BLOCK: tl.constexpr, HAS_NESTED: tl.constexpr,
                   W_DTYPE: tl.constexpr, DOT_DTYPE: tl.constexpr, ALIGNED: tl.constexpr):
    """out[split] = a[:, ks] @ W[:, ks]^T over the split's K range ks (one split: the whole product)."""
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
        if ALIGNED:
            w = _nf4_tile_aligned(packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr, rn,
                                  k_begin + k0, N, K, k_end, BLOCK_N, BLOCK_K, BLOCKSIZE, NESTED_BLOCK, HAS_NESTED,
                                  W_DTYPE, a.dtype)
        else:
            w = _nf4_tile(packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr, rn, rk, N,
                          K, k_end, BLOCKSIZE, NESTED_BLOCK, HAS_NESTED, W_DTYPE, a.dtype)
        acc = tl.dot(a.to(DOT_DTYPE), tl.trans(w.to(DOT_DTYPE)), acc)
    ptrs = out_ptr + split * stride_os + rm[:, None].to(tl.int64) * stride_om + rn[None, :] * stride_on
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def _nf4_nn_kernel(a_ptr, out_ptr, packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr,
                   M, N, K, stride_am, stride_an, stride_om, stride_ok,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                   BLOCKSIZE: tl.constexpr, NESTED_BLOCK: tl.constexpr, HAS_NESTED: tl.constexpr,
                   W_DTYPE: tl.constexpr, DOT_DTYPE: tl.constexpr, ALIGNED: tl.constexpr):
    """out = a @ W: a (M, N), out (M, K); each program owns a (BLOCK_M, BLOCK_K) tile and loops over N."""
    pid_m, pid_k = tl.program_id(0), tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rk = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
    for n0 in range(0, N, BLOCK_N):
        rn = n0 + tl.arange(0, BLOCK_N)
        a = tl.load(a_ptr + rm[:, None].to(tl.int64) * stride_am + rn[None, :] * stride_an,
                    mask=(rm[:, None] < M) & (rn[None, :] < N), other=0.0)
        if ALIGNED:
            w = _nf4_tile_aligned(packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr, rn,
                                  pid_k * BLOCK_K, N, K, K, BLOCK_N, BLOCK_K, BLOCKSIZE, NESTED_BLOCK, HAS_NESTED,
                                  W_DTYPE, a.dtype)
        else:
            w = _nf4_tile(packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr, rn, rk, N,
                          K, K, BLOCKSIZE, NESTED_BLOCK, HAS_NESTED, W_DTYPE, a.dtype)
        acc = tl.dot(a.to(DOT_DTYPE), w.to(DOT_DTYPE), acc)
    ptrs = out_ptr + rm[:, None].to(tl.int64) * stride_om + rk[None, :] * stride_ok
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rk[None, :] < K))


@triton.jit
def _nf4_dequant_kernel(out_ptr, packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr, N, K,
                        BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCKSIZE: tl.constexpr,
                        NESTED_BLOCK: tl.constexpr, HAS_NESTED: tl.constexpr, W_DTYPE: tl.constexpr):
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    w = _nf4_tile(packed_ptr, absmax_ptr, nested_absmax_ptr, nested_code_ptr, code_ptr, offset_ptr, rn, rk, N, K,
                  K, BLOCKSIZE, NESTED_BLOCK, HAS_NESTED, W_DTYPE, out_ptr.dtype.element_ty)
    tl.store(out_ptr + rn[:, None].to(tl.int64) * K + rk[None, :], w, mask=(rn[:, None] < N) & (rk[None, :] < K))


_TL_DTYPES = {torch.bfloat16: tl.bfloat16, torch.float16: tl.float16, torch.float32: tl.float32}


def _weight_args(w: NF4Weight) -> tuple:
    nested = w.nested_absmax is not None
    tensors = (w.packed, w.absmax, w.nested_absmax if nested else w.absmax, w.nested_code if nested else w.code,
               w.code, w.offset_tensor())
    meta = dict(BLOCKSIZE=w.blocksize, NESTED_BLOCK=w.nested_blocksize, HAS_NESTED=nested,
                W_DTYPE=_TL_DTYPES[w.dtype])
    return tensors, meta


def _aligned(w: NF4Weight, block_k: int) -> bool:
    """Whether _nf4_tile_aligned applies (ALIGNED_TILES["on"] False: always the per-element tile; tests run both)."""
    K = int(w.shape[1])
    return ALIGNED_TILES["on"] and K % w.blocksize == 0 and block_k % w.blocksize == 0


def dot_dtype(dtype: torch.dtype):
    """The operand type of tl.dot: the compute dtype on the GPU; fp32 under the CPU interpreter, whose bf16 dot
    is wrong (numpy has no bf16). The operands hold bf16-rounded values either way."""
    return tl.float32 if INTERPRETED else _TL_DTYPES[dtype]


def _check(a: torch.Tensor, w: NF4Weight, inner: int) -> None:
    if len(w.shape) != 2 or a.dim() != 2 or a.shape[1] != inner:
        raise ValueError(f"NF4 matmul: input {tuple(a.shape)} does not fit the weight {tuple(w.shape)}")


def nf4_mm_nt(a: torch.Tensor, w: NF4Weight) -> torch.Tensor:
    """a (M, K) @ W^T -> (M, N) in a's dtype."""
    N, K = int(w.shape[0]), int(w.shape[1])
    _check(a, w, K)
    M = a.shape[0]
    tensors, meta = _weight_args(w)
    if M <= GEMV_MAX_M:  # decode: memory-bound, so spread the weight's bytes over many programs
        BM, BN, BK = 16, 64, 128
        split = max(1, min(triton.cdiv(K, BK), 4 * _sm_count(a.device) // max(1, triton.cdiv(N, BN))))
        k_per_split = triton.cdiv(triton.cdiv(K, split), BK) * BK
        split = triton.cdiv(K, k_per_split)
        out = torch.empty((split, M, N), dtype=torch.float32 if split > 1 else a.dtype, device=a.device)
        grid = (1, triton.cdiv(N, BN), split)
        _launch(_nf4_nt_kernel, grid, (a, out, *tensors, M, N, K, a.stride(0), a.stride(1), out.stride(0),
                                       out.stride(1), out.stride(2), k_per_split),
                dict(BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, DOT_DTYPE=dot_dtype(a.dtype), ALIGNED=_aligned(w, BK),
                     **meta))
        return out[0] if split == 1 else out.sum(0).to(a.dtype)
    BM, BN, BK = 64, 128, 64
    out = torch.empty((M, N), dtype=a.dtype, device=a.device)
    grid = (triton.cdiv(M, BM), triton.cdiv(N, BN), 1)
    _launch(_nf4_nt_kernel, grid, (a, out, *tensors, M, N, K, a.stride(0), a.stride(1), 0, out.stride(0),
                                   out.stride(1), K),
            dict(BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, DOT_DTYPE=dot_dtype(a.dtype), ALIGNED=_aligned(w, BK), **meta))
    return out


def nf4_mm_nn(a: torch.Tensor, w: NF4Weight) -> torch.Tensor:
    """a (M, N) @ W -> (M, K) in a's dtype (the input gradient of x W^T)."""
    N, K = int(w.shape[0]), int(w.shape[1])
    _check(a, w, N)
    M = a.shape[0]
    tensors, meta = _weight_args(w)
    BM, BN, BK = (16, 128, 64) if M <= GEMV_MAX_M else (64, 64, 128)
    aligned = _aligned(w, BK)
    if not aligned and M > GEMV_MAX_M:
        # The per-element tile gathers codes and statistics for every element of the (BLOCK_N, BLOCK_K) tile,
        # and pipelining those buffers at 64 x 128 needs 232 KiB of shared memory, past an H200's 227 KiB.
        BK = 64
    out = torch.empty((M, K), dtype=a.dtype, device=a.device)
    grid = (triton.cdiv(M, BM), triton.cdiv(K, BK))
    _launch(_nf4_nn_kernel, grid, (a, out, *tensors, M, N, K, a.stride(0), a.stride(1), out.stride(0),
                                   out.stride(1)),
            dict(BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, DOT_DTYPE=dot_dtype(a.dtype), ALIGNED=aligned, **meta))
    return out


def _launch(kernel, grid, args: tuple, kw: dict) -> None:
    """kernel[grid](*args, **kw); if the compiled tile needs more shared memory than the card has (Triton checks
    before launching), again with fewer pipeline stages (less shared memory, same result)."""
    try:
        kernel[grid](*args, **kw)
    except OutOfResources:
        kernel[grid](*args, num_stages=1, **kw)


def nf4_dequantize_into(w: NF4Weight, out: torch.Tensor) -> torch.Tensor:
    """W into `out` (N, K), contiguous, any float dtype; returns out."""
    N, K = int(w.shape[0]), int(w.shape[1])
    tensors, meta = _weight_args(w)
    BN, BK = 32, 128
    _nf4_dequant_kernel[(triton.cdiv(N, BN), triton.cdiv(K, BK))](out, *tensors, N, K, BLOCK_N=BN, BLOCK_K=BK,
                                                                   **meta)
    return out


def _sm_count(device: torch.device) -> int:
    if device.type != "cuda":
        return 4  # the interpreter on the CPU: a few splits keep the split-K path exercised
    return torch.cuda.get_device_properties(device).multi_processor_count
