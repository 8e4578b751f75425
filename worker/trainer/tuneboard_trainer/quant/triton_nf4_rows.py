"""Triton kernels for NF4 weights in the row layout (nf4_rows.py): the decode GEMV and a dequantize.

Decoding one token reads every weight once and does two flops per weight: it is memory-bound, so the GEMV's
job is to stream the 0.5-byte indices at the card's bandwidth (both kernels reach 700-940 GB/s of packed bytes on
an H100, a third of it: docs/benchmarks.md). Each weight's 4-bit index becomes its code value (a
16-entry table that stays in L1), is scaled by its block's absmax, rounded to the checkpoint dtype (the
dequantized weight the adapter was trained against) and multiplied by x, accumulating in fp32. No tensor cores:
with one row of activations there is nothing for them to do. Two kernels, chosen by the tile config:

- "lanes" (triton_nf4_lanes.py, Gluon: layouts written out, so no tile moves through shared memory): one row per
  lane, the 64-value blocks of a row shared out over the warps, each lane reading a whole block (32 bytes) with
  its one absmax, the table lookup in PTX;
- "bytes" (plain Triton): BLOCK_N rows by BLOCK_K columns a step, each byte split into its high and low index.
  It runs where Gluon does not (older triton, the CPU interpreter the kernel tests use).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

GROUP = 64  # values per absmax block

# Tile of the GEMV; bench/chat_bench.py measures the alternatives (GEMV_CONFIGS there) on the card. On an H100
# (one token's projections of Llama-3.1-8B as one CUDA graph) lanes with 16 warps took 4.84 ms, bytes 5.88 ms.
BYTES_CONFIG = {"kernel": "bytes", "block_n": 4, "block_k": 256, "num_warps": 2, "scale_bcast": True}
GEMV_CONFIG = {"kernel": "lanes", "rows_per_lane": 1, "num_warps": 16, "unroll": 1}

_TL_DTYPES = {torch.bfloat16: tl.bfloat16, torch.float16: tl.float16, torch.float32: tl.float32}


@triton.jit
def _rows_gemv_kernel(x_ptr, out_ptr, packed_ptr, scale_ptr, code_ptr, N, K,
                      BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP: tl.constexpr, W_DTYPE: tl.constexpr,
                      SCALE_BCAST: tl.constexpr):
    """out[n] = sum_k x[k] W[n, k] for the program's BLOCK_N rows. SCALE_BCAST: load each block's scale once and
    broadcast it in registers (else one cached load per byte: fewer register shuffles, more load instructions)."""
    HALF: tl.constexpr = BLOCK_K // 2
    NB: tl.constexpr = BLOCK_K // GROUP
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)  # (BN,)
    row = rn.to(tl.int64)[:, None]  # (BN, 1)
    nmask = (rn < N)[:, None]
    half = tl.arange(0, HALF)  # byte column within the step
    acc = tl.zeros((BLOCK_N, HALF), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        rb = k0 // 2 + half  # (HALF,) byte columns
        bmask = nmask & (rb < K // 2)[None, :]
        byte = tl.load(packed_ptr + row * (K // 2) + rb[None, :], mask=bmask, other=0).to(tl.int32)  # (BN, HALF)
        if SCALE_BCAST:
            rs = k0 // GROUP + tl.arange(0, NB)
            sc = tl.load(scale_ptr + row * (K // GROUP) + rs[None, :], mask=nmask & (rs < K // GROUP)[None, :],
                         other=0.0)  # (BN, NB)
            scale = tl.reshape(tl.broadcast_to(sc[:, :, None], (BLOCK_N, NB, GROUP // 2)), (BLOCK_N, HALF))
        else:
            scale = tl.load(scale_ptr + row * (K // GROUP) + (rb // (GROUP // 2))[None, :], mask=bmask, other=0.0)
        w_hi = (tl.load(code_ptr + (byte >> 4)) * scale).to(W_DTYPE).to(tl.float32)  # elements k0 + 2j
        w_lo = (tl.load(code_ptr + (byte & 0x0F)) * scale).to(W_DTYPE).to(tl.float32)  # elements k0 + 2j + 1
        rk = k0 + tl.arange(0, BLOCK_K)
        xs = tl.load(x_ptr + rk, mask=rk < K, other=0.0).to(tl.float32)  # (BLOCK_K,)
        x_even, x_odd = tl.split(tl.reshape(xs, (HALF, 2)))  # (HALF,) each
        acc += w_hi * x_even[None, :] + w_lo * x_odd[None, :]
    tl.store(out_ptr + rn, tl.sum(acc, axis=1).to(out_ptr.dtype.element_ty), mask=rn < N)


@triton.jit
def _rows_dequant_kernel(out_ptr, packed_ptr, scale_ptr, code_ptr, N, K,
                         BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP: tl.constexpr, W_DTYPE: tl.constexpr):
    """out[rows, k0 : k0 + BLOCK_K] = the dequantized tile, in out's dtype."""
    HALF: tl.constexpr = BLOCK_K // 2
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row = rn.to(tl.int64)[:, None]
    rb = tl.program_id(1) * HALF + tl.arange(0, HALF)
    bmask = (rn < N)[:, None] & (rb < K // 2)[None, :]
    byte = tl.load(packed_ptr + row * (K // 2) + rb[None, :], mask=bmask, other=0).to(tl.int32)
    scale = tl.load(scale_ptr + row * (K // GROUP) + (rb // (GROUP // 2))[None, :], mask=bmask, other=0.0)
    w_hi = (tl.load(code_ptr + (byte >> 4)) * scale).to(W_DTYPE)
    w_lo = (tl.load(code_ptr + (byte & 0x0F)) * scale).to(W_DTYPE)
    w = tl.interleave(w_hi, w_lo).to(out_ptr.dtype.element_ty)  # (BN, BLOCK_K): high nibble first
    rk = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    tl.store(out_ptr + row * K + rk[None, :], w, mask=(rn < N)[:, None] & (rk < K)[None, :])


def _check(packed: torch.Tensor, scale: torch.Tensor) -> tuple[int, int]:
    N, K = packed.shape[0], packed.shape[1] * 2
    if scale.shape != (N, K // GROUP) or not packed.is_contiguous() or not scale.is_contiguous():
        raise ValueError(f"NF4 rows: packed {tuple(packed.shape)} and scale {tuple(scale.shape)} do not match")
    return N, K


def rows_gemv(x: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, code: torch.Tensor,
              w_dtype: torch.dtype, config: dict | None = None) -> torch.Tensor:
    """x (1, K) @ W^T -> (1, N) in x's dtype."""
    N, K = _check(packed, scale)
    if x.shape != (1, K):
        raise ValueError(f"NF4 rows GEMV: input {tuple(x.shape)} for a weight of {K} columns")
    c = config or GEMV_CONFIG
    out = torch.empty((1, N), dtype=x.dtype, device=x.device)
    if c.get("kernel", "bytes") == "lanes":
        from . import triton_nf4_lanes

        if triton_nf4_lanes.available(x):
            triton_nf4_lanes.lanes_gemv(x.contiguous(), out, packed, scale, code, w_dtype,
                                        rows_per_lane=c["rows_per_lane"], num_warps=c["num_warps"],
                                        unroll=c.get("unroll", 1))
            return out
        c = BYTES_CONFIG
    _rows_gemv_kernel[(triton.cdiv(N, c["block_n"]),)](
        x.contiguous(), out, packed, scale, code, N, K, BLOCK_N=c["block_n"], BLOCK_K=c["block_k"], GROUP=GROUP,
        W_DTYPE=_TL_DTYPES[w_dtype], SCALE_BCAST=bool(c.get("scale_bcast", False)), num_warps=c["num_warps"])
    return out


def rows_dequantize_into(out: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, code: torch.Tensor,
                         w_dtype: torch.dtype) -> torch.Tensor:
    """The dense weight into `out` (N, K), contiguous; returns out."""
    N, K = _check(packed, scale)
    BN, BK = 16, 256
    _rows_dequant_kernel[(triton.cdiv(N, BN), triton.cdiv(K, BK))](
        out, packed, scale, code, N, K, BLOCK_N=BN, BLOCK_K=BK, GROUP=GROUP, W_DTYPE=_TL_DTYPES[w_dtype])
    return out
