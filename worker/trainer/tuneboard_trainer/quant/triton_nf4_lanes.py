"""The decode GEMV on NF4 rows (nf4_rows.py) in Gluon: one row per lane, a row's blocks shared out over the warps.

out (1, N) = x (1, K) @ W^T, W given as packed (N, K / 2) indices and scale (N, K / 64) absmax values.

Why this shape: a plain-Triton tile (the `bytes` kernel) issues ~19 instructions per weight, a third of them
moving its bytes, scales and x between thread layouts through shared memory on every step. Here the layout is
written out (Gluon), so nothing moves: lane l of warp w owns row l (`rows_per_lane` rows, 32 apart) and blocks
w, w + S, w + 2S, ... (S = num_warps); each step (`unroll` blocks a warp) it reads one whole 64-value block of
its row (32 bytes, two 16-byte loads), that block's one absmax, and the block's 64 x values (the same for every
lane of the warp). Per weight that leaves ~10 instructions: the table lookup (PTX below: the index, its address
and one L1 load; all 32 lanes hit the same 64-byte table), the absmax product, the rounding to the checkpoint
dtype (bf16: two weights per cvt) and one FMA. The warps' partial sums meet once, at the end.

Measured on an H100 (Llama-3.1-8B's projections): 18 % faster than `bytes` with 16 warps, and slower with fewer
(the time follows the warps, not the instructions): a warp's 16-byte load touches 32 rows, 32 cache lines, so
what bounds it is the loads in flight, not the instructions issued.

The values are exactly NF4Weight.dequantize's (code[index] * absmax in fp32, rounded to the checkpoint dtype)
times x, summed in fp32 in another order than cuBLAS's.
"""

from __future__ import annotations

import torch
import triton

try:
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl

    HAS_GLUON = True
except ImportError:  # triton before 3.5
    HAS_GLUON = False

MIN_CAPABILITY = (8, 0)  # cvt.rn.bf16x2.f32


def available(x: torch.Tensor) -> bool:
    return HAS_GLUON and x.is_cuda and torch.cuda.get_device_capability(x.device) >= MIN_CAPABILITY


if HAS_GLUON:
    # Four packed bytes ($8: eight 4-bit indices) -> the code values of their high nibbles ($0-$3) and low
    # nibbles ($4-$7); $9 is the table's address. Per index: one byte move, one address, one load.
    _LOOKUP = gl.constexpr("""{
    .reg .b32 t, u, i;
    .reg .b64 a;
    shr.b32 t, $8, 4;
    and.b32 t, t, 0x0F0F0F0F;
    and.b32 u, $8, 0x0F0F0F0F;
    and.b32 i, t, 0xFF;       mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $0, [a];
    prmt.b32 i, t, 0, 0x4441; mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $1, [a];
    prmt.b32 i, t, 0, 0x4442; mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $2, [a];
    shr.b32 i, t, 24;         mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $3, [a];
    and.b32 i, u, 0xFF;       mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $4, [a];
    prmt.b32 i, u, 0, 0x4441; mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $5, [a];
    prmt.b32 i, u, 0, 0x4442; mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $6, [a];
    shr.b32 i, u, 24;         mad.wide.u32 a, i, 4, $9; ld.global.nc.f32 $7, [a];
    }""")

    # Two fp32 values ($2, $3) rounded to bf16 (nearest even) in one cvt and widened back to fp32 ($0, $1).
    _ROUND_BF16 = gl.constexpr("""{
    .reg .b32 t;
    cvt.rn.bf16x2.f32 t, $3, $2;
    shl.b32 $0, t, 16;
    and.b32 $1, t, 0xFFFF0000;
    }""")

    @gluon.jit
    def _lanes_gemv_kernel(x_ptr, out_ptr, packed_ptr, scale_ptr, code_ptr, N, K,
                           RPL: gl.constexpr, S: gl.constexpr, UNROLL: gl.constexpr, X_BF16: gl.constexpr,
                           ROUND: gl.constexpr, W_DTYPE: gl.constexpr):
        """ROUND: 0 keep fp32, 1 round to bf16 (PTX, pairs), 2 round to W_DTYPE. X_BF16: x read as bf16 pairs.
        UNROLL: blocks a warp takes per step (their loads in flight together)."""
        BN: gl.constexpr = 32 * RPL
        # (warp's block, row, byte of the block): a lane holds RPL rows x 32 bytes, the warps split the blocks
        L3: gl.constexpr = gl.BlockedLayout([1, RPL, 32], [1, 32, 1], [S, 1, 1], [2, 1, 0])
        LR: gl.constexpr = gl.SliceLayout(2, L3)  # (S, BN): a block's absmax per row
        LX: gl.constexpr = gl.SliceLayout(1, L3)  # (S, 32): a block's x pairs, the same in every lane
        nblk = K // 64
        rows = gl.program_id(0) * BN + gl.arange(0, BN, layout=gl.SliceLayout(0, LR))
        row2 = gl.expand_dims(rows, 0)  # (1, BN)
        blk2 = gl.expand_dims(gl.arange(0, S, layout=gl.SliceLayout(1, LR)), 1)  # (S, 1)
        row3 = gl.expand_dims(row2, 2)  # (1, BN, 1)
        blk3 = gl.expand_dims(blk2, 2)  # (S, 1, 1)
        byte3 = gl.expand_dims(gl.expand_dims(gl.arange(0, 32, layout=gl.SliceLayout(0, LX)), 0), 1)  # (1, 1, 32)
        blkx = gl.expand_dims(gl.arange(0, S, layout=gl.SliceLayout(1, LX)), 1)  # (S, 1)
        pairx = gl.expand_dims(gl.arange(0, 32, layout=gl.SliceLayout(0, LX)), 0)  # (1, 32)
        table = gl.full([S, BN, 32], 0, gl.int64, layout=L3) + code_ptr.to(gl.int64)
        acc = gl.zeros([S, BN, 32], gl.float32, layout=L3)
        for b00 in range(0, nblk, S * UNROLL):
            for u in gl.static_range(UNROLL):
                b0 = b00 + u * S
                b2 = b0 + blk2
                b3 = b0 + blk3
                bx = b0 + blkx
                byte = gl.load(packed_ptr + row3.to(gl.int64) * (K // 2) + b3 * 32 + byte3,
                               mask=(row3 < N) & (b3 < nblk), other=0)  # (S, BN, 32) uint8
                absmax = gl.load(scale_ptr + row2.to(gl.int64) * nblk + b2, mask=(row2 < N) & (b2 < nblk), other=0.0)
                absmax = gl.expand_dims(absmax, 2)  # (S, BN, 1)
                if X_BF16:  # x[2j] in the low half of pair j (little-endian), x[2j + 1] in the high half
                    xp = gl.load(x_ptr.to(gl.pointer_type(gl.uint32)) + bx * 32 + pairx, mask=bx < nblk, other=0)
                    x_hi = (xp << 16).to(gl.float32, bitcast=True)
                    x_lo = (xp & 0xFFFF0000).to(gl.float32, bitcast=True)
                else:
                    x_hi = gl.load(x_ptr + bx * 64 + 2 * pairx, mask=bx < nblk, other=0.0).to(gl.float32)
                    x_lo = gl.load(x_ptr + bx * 64 + 2 * pairx + 1, mask=bx < nblk, other=0.0).to(gl.float32)
                c_hi, c_lo = gl.inline_asm_elementwise(_LOOKUP, "=r,=r,=r,=r,=r,=r,=r,=r,r,l,l,l,l", [byte, table],
                                                       dtype=(gl.float32, gl.float32), is_pure=True, pack=4)
                w_hi = c_hi * absmax  # element 2j of the block (high nibble first)
                w_lo = c_lo * absmax  # element 2j + 1
                if ROUND == 1:
                    w_hi, w_lo = gl.inline_asm_elementwise(_ROUND_BF16, "=r,=r,r,r", [w_hi, w_lo],
                                                           dtype=(gl.float32, gl.float32), is_pure=True, pack=1)
                elif ROUND == 2:
                    w_hi = w_hi.to(W_DTYPE).to(gl.float32)
                    w_lo = w_lo.to(W_DTYPE).to(gl.float32)
                acc += w_hi * gl.expand_dims(x_hi, 1)
                acc += w_lo * gl.expand_dims(x_lo, 1)
        total = gl.sum(gl.sum(acc, axis=2), axis=0)  # (BN,)
        gl.store(out_ptr + rows, total.to(out_ptr.dtype.element_ty), mask=rows < N)


_GL_DTYPES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}


def lanes_gemv(x: torch.Tensor, out: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, code: torch.Tensor,
               w_dtype: torch.dtype, rows_per_lane: int = 1, num_warps: int = 8, unroll: int = 1) -> torch.Tensor:
    """out (1, N) = x (1, K) @ W^T; x contiguous, K a multiple of 64 (nf4_rows.rows_fit)."""
    N, K = packed.shape[0], packed.shape[1] * 2
    x_bf16 = x.dtype == torch.bfloat16 and x.data_ptr() % 4 == 0
    rnd = 0 if w_dtype == torch.float32 else 1 if w_dtype == torch.bfloat16 else 2
    grid = (triton.cdiv(N, 32 * rows_per_lane),)
    _lanes_gemv_kernel[grid](x, out, packed, scale, code, N, K, RPL=rows_per_lane, S=num_warps, UNROLL=unroll,
                             X_BF16=x_bf16, ROUND=rnd, W_DTYPE=getattr(gl, _GL_DTYPES[w_dtype]), num_warps=num_warps)
    return out
